"""The signed-in user of an API request."""

from __future__ import annotations

from typing import cast

from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from marketplace.accounts.models import User


def api_user(request: Request) -> User:
    """The request's user, for views whose permission classes require a signed-in one (an
    anonymous request never gets this far; if one did, it would be a 401, not a crash)."""
    user = request.user
    if not user.is_authenticated:
        raise NotAuthenticated()
    return cast(User, user)
