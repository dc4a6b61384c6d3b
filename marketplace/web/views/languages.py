"""The language chooser of every page's footer (templates/base.html)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.i18n import set_language

from marketplace.accounts.services import user_set_language
from marketplace.core.languages import language_codes


def language_choose(request: HttpRequest) -> HttpResponse:
    """Django's `set_language` (the cookie, then back to `next`); a signed-in person's choice is
    also stored on their account, for their e-mails, push texts and other devices."""
    response = set_language(request)
    code = request.POST.get("language", "") if request.method == "POST" else ""
    if request.user.is_authenticated and code in language_codes():
        user_set_language(user=request.user, language=code)  # type: ignore[arg-type]
    return response
