"""Forms of the merchant pages (web/views/merchant.py)."""

from django import forms
from django.utils.translation import gettext_lazy

from marketplace.merchants.models import BillingMode, KeyMode, KeyScope


class MerchantForm(forms.Form):
    name = forms.CharField(max_length=150)
    contact_email = forms.EmailField()
    billing_mode = forms.ChoiceField(choices=BillingMode.choices, initial=BillingMode.CARD)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=50, help_text=gettext_lazy("Which system uses it, e.g. “shop ERP”.")
    )
    scope = forms.ChoiceField(choices=KeyScope.choices, initial=KeyScope.WRITE)
    mode = forms.ChoiceField(choices=KeyMode.choices, initial=KeyMode.LIVE)


class UploadForm(forms.Form):
    file = forms.FileField(
        help_text=gettext_lazy("CSV, UTF-8, a header row of field names (docs/merchants.md).")
    )
    mode = forms.ChoiceField(
        choices=KeyMode.choices,
        initial=KeyMode.LIVE,
        help_text=gettext_lazy("Test uploads go to the sandbox."),
    )
