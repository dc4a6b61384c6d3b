"""Forms of the webhook endpoint pages (web/views/hooks.py). They parse input; the hooks
services decide what is allowed (https, a public address, known event types) and their errors
come back next to the inputs they are about."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from marketplace.core.exceptions import ApplicationError
from marketplace.hooks.models import EventType, WebhookEndpoint
from marketplace.merchants.models import KeyMode
from marketplace.web.forms import ErrorSummaryMixin, _add_application_error


def event_type_choices() -> list[tuple[str, str]]:
    """Every event type but `webhook.test`, which is sent on request to one endpoint."""
    return [(value, str(label)) for value, label in EventType.choices if value != EventType.TEST]


class EndpointForm(ErrorSummaryMixin, forms.Form):
    # The checkboxes have no single input to jump to: the summary links to their fieldset.
    error_anchors = {"event_types": "event-types"}

    url = forms.URLField(
        label=gettext_lazy("URL"),
        max_length=500,
        assume_scheme="https",
        widget=forms.TextInput(
            attrs={
                "inputmode": "url",
                "autocomplete": "url",
                "spellcheck": "false",
                "placeholder": gettext_lazy("https://shop.example.com/waypost/webhooks"),
            }
        ),
        help_text=gettext_lazy(
            "https, on a public address: we POST each event to it as signed JSON."
        ),
    )
    description = forms.CharField(label=gettext_lazy("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=gettext_lazy("Events"),
        choices=event_type_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: every event, also those added later."),
    )

    def add_service_errors(self, exc: ApplicationError) -> None:
        _add_application_error(self, exc, {})


class EndpointCreateForm(EndpointForm):
    mode = forms.ChoiceField(
        label=gettext_lazy("Mode"),
        choices=KeyMode.choices,
        initial=KeyMode.LIVE,
        help_text=gettext_lazy(
            "A test endpoint receives the events of test (sandbox) parcels only."
        ),
    )


class EndpointUpdateForm(EndpointForm):
    is_active = forms.BooleanField(label=gettext_lazy("Active: send events to it"), required=False)

    def __init__(self, *args: Any, endpoint: WebhookEndpoint, **kwargs: Any) -> None:
        offered = {value for value, _ in event_type_choices()}
        # Types set through the API that are not offered here (webhook.test) are kept, so saving
        # this form never widens an endpoint to every event.
        self.kept_types = [t for t in endpoint.event_types if t not in offered]
        kwargs["initial"] = {
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": [t for t in endpoint.event_types if t in offered],
            "is_active": endpoint.is_active,
        }
        super().__init__(*args, **kwargs)
        self.endpoint = endpoint

    def changes(self) -> dict[str, Any]:
        """Only what differs from the endpoint, for services.endpoint_update: `is_active` is in
        it only when switched, and switching it on is what resets the failure count."""
        wanted = {**self.cleaned_data}
        wanted["event_types"] = [*wanted["event_types"], *self.kept_types]
        changes: dict[str, Any] = {}
        for name, value in wanted.items():
            current = getattr(self.endpoint, name)
            same = sorted(value) == sorted(current) if name == "event_types" else value == current
            if not same:
                changes[name] = value
        return changes
