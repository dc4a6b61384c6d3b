"""Forms of the returns pages (the shipper's parcel page and the recipient's tracking page)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy

from marketplace.returns.models import ReturnReason
from marketplace.returns.services import MAX_PHOTOS, MAX_REASON_CHARS


class MultiplePhotoInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultiplePhotoField(forms.FileField):
    """Several photos in one input (Django's documented pattern); the service checks each."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultiplePhotoInput(attrs={"accept": "image/*"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        if len(files) > MAX_PHOTOS:
            raise forms.ValidationError(
                gettext("At most %(MAX_PHOTOS)s photos.") % {"MAX_PHOTOS": MAX_PHOTOS}
            )
        return [super(MultiplePhotoField, self).clean(item, initial) for item in files]


class ReturnForm(forms.Form):
    reason_code = forms.ChoiceField(
        label=gettext_lazy("Why does it go back?"), choices=ReturnReason.choices
    )
    reason = forms.CharField(
        label=gettext_lazy("Details"),
        max_length=MAX_REASON_CHARS,
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": gettext_lazy("What is wrong with it?")}
        ),
    )
    photos = MultiplePhotoField(
        label="Photos",
        required=False,
        help_text=format_lazy(
            gettext_lazy("Up to {count} JPEG, PNG or WebP photos."), count=MAX_PHOTOS
        ),
    )


class RefuseForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why refuse?"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": gettext_lazy("Say why the return is refused.")},
    )
