"""Admin helpers shared by the apps."""

from typing import Any, cast

from django.contrib import admin
from django.http import HttpRequest

from marketplace.accounts.models import User


class ReadOnlyAdminMixin:
    """Audit rows are written by services only: admins read them, never edit or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyTabularInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False


def admin_user(request: HttpRequest) -> User:
    """The staff member using the admin (Django admin lets no one else in)."""
    return cast(User, request.user)
