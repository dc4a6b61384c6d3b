"""Forms of the shipper web site. They parse and convert input; the services decide the rules.

The parcel form speaks the shipper's units (kilograms, major currency units, local time, a map)
and hands the services model fields (grams, minor units, aware datetimes, WGS 84 points). When a
service refuses the parcel, `ParcelForm.add_service_errors` puts each message back next to the
input it is about, so the page shows every error where it belongs and keeps what was typed.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import DecimalValidator
from django.utils.translation import gettext, gettext_lazy, ngettext

from marketplace.accounts.models import User, VehicleType
from marketplace.core.datetimes import datetime_problem
from marketplace.core.exceptions import ApplicationError
from marketplace.core.geo import GeometryError, make_point
from marketplace.core.money import minor_exponent
from marketplace.core.sizes import SizeClass
from marketplace.core.timezones import zone_names, zone_problem
from marketplace.parcels import options
from marketplace.parcels.models import Parcel

DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


class ErrorSummaryMixin:
    """`error_summary()` lists every error with the label of its field and where to jump to."""

    # Fields without a visible input of their own: where their errors are shown instead.
    error_anchors: dict[str, str] = {}

    def error_summary(self) -> list[dict[str, str]]:
        form: forms.BaseForm = self  # type: ignore[assignment]
        items = [{"label": "", "anchor": "", "message": str(m)} for m in form.non_field_errors()]
        for name, errors in form.errors.items():
            if name == NON_FIELD_ERRORS:
                continue
            field = form[name]
            anchor = self.error_anchors.get(name, field.id_for_label)
            items += [
                {"label": str(field.label), "anchor": anchor, "message": str(m)} for m in errors
            ]
        return items


def _add_application_error(
    form: forms.BaseForm, exc: ApplicationError, field_map: dict[str, str | None]
) -> None:
    """Put a service's error onto the form: `exc.fields` next to their inputs, the rest on top."""
    if not exc.fields:
        form.add_error(None, exc.message)
        return
    for name, messages in exc.fields.items():
        target = field_map.get(name, name)
        if target not in form.fields:
            target = None
        for message in messages:
            form.add_error(target, message if target else f"{name}: {message}")


# --- accounts -----------------------------------------------------------------------------------


class SignupForm(ErrorSummaryMixin, forms.Form):
    email = forms.EmailField(
        label=gettext_lazy("Email"), widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    full_name = forms.CharField(
        label=gettext_lazy("Full name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    phone = forms.CharField(
        label=gettext_lazy("Phone"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    password1 = forms.CharField(
        label=gettext_lazy("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy("At least 8 characters; not only digits, not a common password."),
    )
    password2 = forms.CharField(
        label=gettext_lazy("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    is_shipper = forms.BooleanField(
        label=gettext_lazy("I want to send parcels"), required=False, initial=True
    )
    is_courier = forms.BooleanField(
        label=gettext_lazy("I want to carry parcels (courier)"), required=False, initial=False
    )
    vehicle_type = forms.ChoiceField(
        label=gettext_lazy("Vehicle"),
        choices=[("", gettext_lazy("Choose your vehicle")), *VehicleType.choices],
        required=False,
        initial=VehicleType.BIKE,
        help_text=gettext_lazy(
            "Only for couriers: what you travel with decides which parcels fit."
        ),
    )

    # Filled in by the browser (static/js/time-zone-guess.js); a guess we do not know is dropped.
    time_zone = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput(
        attrs={"data-time-zone-guess": ""}
    ))  # fmt: skip

    # Service error codes (marketplace.accounts.services.user_register) -> the field they are about.
    CODE_FIELDS = {"email_taken": "email", "weak_password": "password1", "no_role": None}

    def clean_time_zone(self) -> str:
        guess = self.cleaned_data.get("time_zone") or ""
        return "" if zone_problem(guess) else guess

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords do not match.")
        if data.get("is_courier") and not data.get("vehicle_type"):
            self.add_error("vehicle_type", "Couriers need to choose a vehicle.")
        return data

    def add_service_error(self, exc: ApplicationError) -> None:
        field = self.CODE_FIELDS.get(exc.code)
        self.add_error(field, exc.message)


class EmailAuthenticationForm(ErrorSummaryMixin, AuthenticationForm):
    """Django's login form with the email as username, matched the way accounts store it."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": gettext_lazy(
            "Wrong email or password. Both are case-sensitive except the email."
        ),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Email"
        self.fields["username"].widget = forms.EmailInput(
            attrs={"autofocus": True, "autocomplete": "email"}
        )

    def clean_username(self) -> str:
        return User.objects.normalize_email(self.cleaned_data["username"]).lower()


class ProfileForm(ErrorSummaryMixin, forms.Form):
    """Name, phone and the shipper role, saved by `accounts.services.user_update_profile`.

    The shipper box is shown only to users who may change it: a shipper who is not a courier
    would be left without a role, so for them it stays ticked and hidden."""

    full_name = forms.CharField(
        label=gettext_lazy("Full name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    phone = forms.CharField(
        label=gettext_lazy("Phone"),
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    is_shipper = forms.BooleanField(
        label=gettext_lazy("I send parcels (shipper role)"), required=False
    )
    time_zone = forms.ChoiceField(
        label=gettext_lazy("Time zone"),
        required=False,
        help_text=gettext_lazy("Pages, e-mails and notifications show times in this zone."),
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        required=False,
        help_text=gettext_lazy("Pages, e-mails and notifications are written in this language."),
        error_messages={
            "invalid_choice": gettext_lazy(
                "'%(value)s' is not a language of this site; choose one from the list."
            )
        },
    )

    # Service error codes -> the field they are about.
    CODE_FIELDS = {"no_role": "is_shipper"}

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "full_name": user.full_name,
                "phone": user.phone,
                "is_shipper": user.is_shipper,
                "time_zone": user.time_zone,
                "language": user.language,
            },
        )
        super().__init__(*args, **kwargs)
        self.user = user
        zones = self.fields["time_zone"]
        assert isinstance(zones, forms.ChoiceField)
        zones.choices = [
            ("", gettext("The site's (%(TIME_ZONE)s)") % {"TIME_ZONE": settings.TIME_ZONE}),
            *((name, name.replace("_", " ")) for name in zone_names()),
        ]
        languages = self.fields["language"]
        assert isinstance(languages, forms.ChoiceField)
        languages.choices = [("", gettext("Your browser's")), *settings.LANGUAGES]
        if user.is_shipper and not user.is_courier:
            del self.fields["is_shipper"]
        elif user.is_courier:
            help_text = gettext(
                "Untick to use your account only as a courier; you can come back any time."
            )
            self.fields["is_shipper"].help_text = help_text

    def profile_fields(self) -> dict[str, Any]:
        """The cleaned input as `user_update_profile` keyword arguments."""
        data = self.cleaned_data
        shown = "is_shipper" in self.fields
        return {
            "full_name": data["full_name"],
            "phone": data["phone"],
            "is_shipper": data["is_shipper"] if shown else self.user.is_shipper,
            "time_zone": data["time_zone"],
            "language": data["language"],
        }

    def add_service_error(self, exc: ApplicationError) -> None:
        field = self.CODE_FIELDS.get(exc.code)
        if field not in self.fields:
            field = None
        if exc.fields:
            _add_application_error(self, exc, {})
        else:
            self.add_error(field, exc.message)


# --- parcels ------------------------------------------------------------------------------------


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format=DATETIME_LOCAL_FORMAT)


class DateTimeField(forms.DateTimeField):
    """Django's, refusing times outside marketplace.core.datetimes' range (a year 9999 typed in
    would otherwise overflow the window arithmetic)."""

    def to_python(self, value: Any) -> Any:
        result = super().to_python(value)
        if result is not None and (problem := datetime_problem(result)):
            raise forms.ValidationError(problem, code="out_of_range")
        return result


class PhotoField(forms.ImageField):
    """An image no bigger than settings.MAX_UPLOAD_BYTES; the size is checked before Pillow
    reads the file."""

    def to_python(self, data: Any) -> Any:
        if isinstance(data, UploadedFile) and data.size and data.size > settings.MAX_UPLOAD_BYTES:
            limit = settings.MAX_UPLOAD_BYTES / (1024 * 1024)
            size = data.size / (1024 * 1024)
            raise forms.ValidationError(
                gettext("The photo is %(size)s MB; it may be at most %(limit)s MB.")
                % {"size": format(size, ".1f"), "limit": format(limit, "g")},
                code="too_big",
            )
        return super().to_python(data)


def size_class_choices() -> list[tuple[str, str]]:
    return [(value, f"{value} · {label}") for value, label in SizeClass.choices]


class ParcelForm(ErrorSummaryMixin, forms.Form):
    description = forms.CharField(
        max_length=200,
        help_text=gettext_lazy("What is in the parcel, as the courier should know it."),
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("Box of books")}),
    )
    size_class = forms.ChoiceField(
        label=gettext_lazy("Size"),
        choices=size_class_choices,
        widget=forms.RadioSelect(attrs={"class": "size-choice"}),
        help_text=gettext_lazy(
            "The largest box of each size; pick the smallest your parcel fits in."
        ),
    )
    weight_kg = forms.DecimalField(
        label=gettext_lazy("Weight (kg)"),
        max_digits=9,
        decimal_places=3,
        widget=forms.NumberInput(attrs={"step": "0.001", "inputmode": "decimal"}),
    )
    declared_value = forms.DecimalField(
        label=gettext_lazy("Declared value"),
        max_digits=15,
        help_text=gettext_lazy("What the contents are worth; it decides the insurance cover."),
    )
    photo = PhotoField(
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/*"}),
        help_text=gettext_lazy("A photo helps the courier recognise the parcel."),
    )

    pickup_address = forms.CharField(label=gettext_lazy("Pickup address"), max_length=300)
    pickup_contact_name = forms.CharField(
        label=gettext_lazy("Contact name at pickup"), max_length=150
    )
    pickup_contact_phone = forms.CharField(
        label=gettext_lazy("Contact phone at pickup"),
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    pickup_window_start = DateTimeField(
        label=gettext_lazy("Pickup from"), widget=DateTimeLocalInput()
    )
    pickup_window_end = DateTimeField(
        label=gettext_lazy("Pickup until"), widget=DateTimeLocalInput()
    )

    dropoff_address = forms.CharField(label=gettext_lazy("Drop-off address"), max_length=300)
    dropoff_contact_name = forms.CharField(
        label=gettext_lazy("Contact name at drop-off"), max_length=150
    )
    dropoff_contact_phone = forms.CharField(
        label=gettext_lazy("Contact phone at drop-off"),
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "tel"}),
    )
    delivery_window_start = DateTimeField(
        label=gettext_lazy("Deliver from"), widget=DateTimeLocalInput()
    )
    delivery_window_end = DateTimeField(
        label=gettext_lazy("Deliver by"), widget=DateTimeLocalInput()
    )

    # Delivery options and the recipient: set when the parcel is posted (parcels.options).
    leave_at_door = forms.BooleanField(
        label=gettext_lazy("Leave at the door"),
        required=False,
        help_text=gettext_lazy("No one needs to be in; a photo."),
    )
    signature_required = forms.BooleanField(
        label=gettext_lazy("Signature required"), required=False
    )
    pin_required = forms.BooleanField(
        label=gettext_lazy("Recipient gives the delivery code"),
        required=False,
        initial=True,
        help_text=gettext_lazy("You pass the code on to the recipient."),
    )
    minimum_age = forms.IntegerField(
        label=gettext_lazy("Minimum age (ID check)"),
        required=False,
        min_value=1,
        max_value=99,
        help_text=gettext_lazy("The courier checks the recipient's ID; leave empty for none."),
    )
    fragile = forms.BooleanField(label=gettext_lazy("Fragile"), required=False)
    recipient_email = forms.EmailField(
        label=gettext_lazy("Recipient's e-mail"),
        required=False,
        help_text=gettext_lazy("We e-mail them a tracking link when a courier takes the parcel."),
    )
    prohibited_items_declared = forms.BooleanField(
        label=gettext_lazy("It holds none of the prohibited items"), required=False
    )

    # Set by the map (static/js/parcel-map.js).
    pickup_lat = forms.FloatField(
        label=gettext_lazy("Pickup point"), required=False, widget=forms.HiddenInput
    )
    pickup_lon = forms.FloatField(
        label=gettext_lazy("Pickup point"), required=False, widget=forms.HiddenInput
    )
    dropoff_lat = forms.FloatField(
        label=gettext_lazy("Drop-off point"), required=False, widget=forms.HiddenInput
    )
    dropoff_lon = forms.FloatField(
        label=gettext_lazy("Drop-off point"), required=False, widget=forms.HiddenInput
    )

    error_anchors = {
        "pickup_lat": "map-section",
        "pickup_lon": "map-section",
        "dropoff_lat": "map-section",
        "dropoff_lon": "map-section",
        "size_class": "id_size_class_0",
    }
    OPTION_FIELDS = (
        "leave_at_door",
        "signature_required",
        "pin_required",
        "minimum_age",
        "fragile",
        "recipient_email",
        "prohibited_items_declared",
    )
    # Service (model) field names -> the form field that shows their errors.
    SERVICE_FIELDS: dict[str, str | None] = {
        "weight_grams": "weight_kg",
        "pickup_point": "pickup_lat",
        "dropoff_point": "dropoff_lat",
    }
    POINTS = ("pickup", "dropoff")

    def __init__(self, *args: Any, instance: Parcel | None = None, **kwargs: Any) -> None:
        self.instance = instance
        if instance is not None:
            kwargs["initial"] = {**initial_from_parcel(instance), **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        self.prohibited_items = options.prohibited_items()
        if instance is not None:  # options are set once, when the parcel is posted
            for name in self.OPTION_FIELDS:
                del self.fields[name]
        elif self.prohibited_items:
            self.fields["prohibited_items_declared"].required = True
            self.fields["prohibited_items_declared"].error_messages["required"] = gettext(
                "Confirm that the parcel holds none of the prohibited items."
            )
        limit_mb = settings.MAX_UPLOAD_BYTES / (1024 * 1024)
        photo_help = gettext(
            "A photo helps the courier recognise the parcel (at most %(limit_mb)s MB)."
        ) % {"limit_mb": format(limit_mb, "g")}
        self.fields["photo"].help_text = photo_help
        self.currency = settings.MARKETPLACE_CURRENCY
        self.exponent = minor_exponent(self.currency)
        value = self.fields["declared_value"]
        assert isinstance(value, forms.DecimalField)
        value.decimal_places = self.exponent
        value.label = gettext("Declared value (%(currency)s)") % {"currency": self.currency}
        value.widget.attrs.update(
            step=str(Decimal(1).scaleb(-self.exponent)), inputmode="decimal", min="0"
        )
        # DecimalValidator is built from decimal_places at init: rebuild it for this currency.
        value.validators = [v for v in value.validators if not isinstance(v, DecimalValidator)]
        value.validators.append(DecimalValidator(value.max_digits, self.exponent))

    # -- cleaning ---------------------------------------------------------------------------------

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for prefix in self.POINTS:
            lat_name, lon_name = f"{prefix}_lat", f"{prefix}_lon"
            if lat_name in self.errors or lon_name in self.errors:
                continue
            lat, lon = data.get(lat_name), data.get(lon_name)
            if lat is None or lon is None:
                missing = {
                    "pickup": gettext(
                        'Place the pickup point on the map: click "Place pickup", then the map.'
                    ),
                    "dropoff": gettext(
                        'Place the drop-off point on the map: click "Place drop-off", then the map.'
                    ),
                }
                self.add_error(lat_name, missing[prefix])
                continue
            try:
                data[f"{prefix}_point"] = make_point(
                    lon,
                    lat,
                    where=gettext("The pickup point")
                    if prefix == "pickup"
                    else gettext("The drop-off point"),
                )
            except GeometryError as exc:
                self.add_error(lat_name, exc.message)
        return data

    def parcel_fields(self) -> dict[str, Any]:
        """The cleaned input as `parcel_create` / `parcel_update` keyword arguments."""
        data = self.cleaned_data
        fields = {
            name: data[name]
            for name in (
                "description",
                "size_class",
                "pickup_address",
                "pickup_contact_name",
                "pickup_contact_phone",
                "pickup_window_start",
                "pickup_window_end",
                "dropoff_address",
                "dropoff_contact_name",
                "dropoff_contact_phone",
                "delivery_window_start",
                "delivery_window_end",
                "pickup_point",
                "dropoff_point",
            )
        }
        fields["weight_grams"] = int(
            (data["weight_kg"] * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        )
        fields["declared_value"] = int(data["declared_value"].scaleb(self.exponent))
        photo = data.get("photo")
        if isinstance(photo, UploadedFile):
            fields["photo"] = photo
        elif photo is False:  # "Clear" ticked on the edit form
            fields["photo"] = ""
        if self.instance is None:
            fields |= {name: data[name] for name in self.OPTION_FIELDS}
        return fields

    def changed_parcel_fields(self) -> dict[str, Any]:
        """For editing: only the fields whose value differs from the parcel's."""
        assert self.instance is not None
        changes = {}
        for name, value in self.parcel_fields().items():
            if name == "photo" or not same_value(getattr(self.instance, name), value):
                changes[name] = value
        return changes

    def add_service_errors(self, exc: ApplicationError) -> None:
        _add_application_error(self, exc, self.SERVICE_FIELDS)

    # -- display helpers --------------------------------------------------------------------------

    def point_errors(self, prefix: str) -> list[str]:
        return [*self.errors.get(f"{prefix}_lat", []), *self.errors.get(f"{prefix}_lon", [])]

    @property
    def pickup_errors(self) -> list[str]:
        return self.point_errors("pickup")

    @property
    def dropoff_errors(self) -> list[str]:
        return self.point_errors("dropoff")


def same_value(old: Any, new: Any) -> bool:
    if hasattr(old, "coords") and hasattr(new, "coords"):
        return all(abs(a - b) < 1e-9 for a, b in zip(old.coords, new.coords, strict=True))
    if hasattr(old, "replace") and hasattr(old, "tzinfo") and hasattr(new, "tzinfo"):
        # datetime-local inputs carry minutes: an unchanged window keeps its seconds.
        return old.replace(second=0, microsecond=0) == new
    return bool(old == new)


def initial_from_parcel(parcel: Parcel) -> dict[str, Any]:
    exponent = minor_exponent(parcel.currency or settings.MARKETPLACE_CURRENCY)
    initial = {
        name: getattr(parcel, name)
        for name in (
            "description",
            "size_class",
            "photo",
            "pickup_address",
            "pickup_contact_name",
            "pickup_contact_phone",
            "pickup_window_start",
            "pickup_window_end",
            "dropoff_address",
            "dropoff_contact_name",
            "dropoff_contact_phone",
            "delivery_window_start",
            "delivery_window_end",
        )
    }
    initial["weight_kg"] = (Decimal(parcel.weight_grams) / 1000).normalize()
    initial["declared_value"] = Decimal(parcel.declared_value).scaleb(-exponent)
    initial["pickup_lat"], initial["pickup_lon"] = parcel.pickup_point.y, parcel.pickup_point.x
    initial["dropoff_lat"], initial["dropoff_lon"] = parcel.dropoff_point.y, parcel.dropoff_point.x
    return initial


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=300,
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": gettext_lazy("Why are you cancelling?")}
        ),
    )


class QuoteForm(forms.Form):
    """The fields the price depends on, for the "Get a quote" button."""

    size_class = forms.ChoiceField(choices=SizeClass.choices)
    weight_kg = forms.DecimalField(max_digits=9, decimal_places=3, min_value=Decimal("0.001"))
    delivery_window_end = DateTimeField()
    pickup_lat = forms.FloatField()
    pickup_lon = forms.FloatField()
    dropoff_lat = forms.FloatField()
    dropoff_lon = forms.FloatField()

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        for prefix in ("pickup", "dropoff"):
            lat, lon = data.get(f"{prefix}_lat"), data.get(f"{prefix}_lon")
            if lat is None or lon is None:
                continue
            try:
                data[f"{prefix}_point"] = make_point(lon, lat, where=prefix)
            except GeometryError as exc:
                self.add_error(f"{prefix}_lat", exc.message)
        if "weight_kg" in data:
            data["weight_grams"] = int(
                (data["weight_kg"] * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
            )
        return data


def star_choices() -> list[tuple[int, str]]:
    return [
        (n, ngettext("%(count)d star", "%(count)d stars", n) % {"count": n}) for n in range(1, 6)
    ]


class RatingForm(forms.Form):
    """One to five stars and an optional comment, after the delivery."""

    stars = forms.TypedChoiceField(
        label=gettext_lazy("Your rating"),
        choices=star_choices,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": gettext_lazy("Choose from 1 to 5 stars.")},
    )
    comment = forms.CharField(
        label=gettext_lazy("Comment"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": gettext_lazy("How did it go?")}),
    )


# --- payments -----------------------------------------------------------------------------------

CARD_TOKEN_PATTERN = r"^tok_\w{1,200}$"


class CardTokenForm(forms.Form):
    """What the card form's script posts: the token Stripe.js made of the card (never the card
    number itself, which goes from the browser to Stripe only)."""

    card_token = forms.RegexField(
        regex=CARD_TOKEN_PATTERN,
        error_messages={
            "required": gettext_lazy(
                "The card was not read. Fill in the card details and try again."
            ),
            "invalid": gettext_lazy(
                "The card was not read. Fill in the card details and try again."
            ),
        },
    )


class TipForm(CardTokenForm):
    """A tip in the shipper's units (major currency units) for `tip_start` (minor units)."""

    MAX_MINOR = 100_000  # what tip_start accepts

    amount = forms.DecimalField(label=gettext_lazy("Tip"), max_digits=9)

    def __init__(self, *args: Any, currency: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.exponent = minor_exponent(currency)
        self.smallest = Decimal(1).scaleb(-self.exponent)
        self.biggest = Decimal(self.MAX_MINOR).scaleb(-self.exponent)
        amount = self.fields["amount"]
        amount.label = gettext("Tip (%(currency)s)") % {"currency": currency}
        amount.widget.attrs.update(
            step=str(self.smallest), min=str(self.smallest), max=str(self.biggest)
        )
        amount.widget.attrs["inputmode"] = "decimal"

    def clean_amount(self) -> int:
        value: Decimal = self.cleaned_data["amount"]
        minor = value.scaleb(self.exponent)
        if minor != minor.to_integral_value():
            raise forms.ValidationError(
                gettext("Use at most %(exponent)s decimal places.") % {"exponent": self.exponent},
                code="decimal_places",
            )
        if not self.smallest <= value <= self.biggest:
            raise forms.ValidationError(
                gettext("A tip is between %(smallest)s and %(biggest)s %(currency)s.")
                % {"smallest": self.smallest, "biggest": self.biggest, "currency": self.currency},
                code="range",
            )
        return int(minor)
