"""The form of the "Delete my account" page: the password, to confirm it is the person."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext, gettext_lazy

from marketplace.accounts.models import User
from marketplace.core.exceptions import ApplicationError
from marketplace.web.forms import ErrorSummaryMixin


class AccountEraseForm(ErrorSummaryMixin, forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(gettext("That is not your password."))
        return password

    def add_service_error(self, exc: ApplicationError) -> None:
        """Each reason erasure was refused, on top of the form."""
        reasons = exc.extra.get("reasons") or [{"message": exc.message}]
        for reason in reasons:
            self.add_error(None, reason["message"])
