from rest_framework import serializers

from marketplace.accounts.models import CourierProfile, User, VehicleType
from marketplace.core.languages import language_problem
from marketplace.core.sizes import SizeClass
from marketplace.core.timezones import zone_of, zone_problem


class CourierProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = CourierProfile
        fields = [
            "vehicle_type",
            "max_size_class",
            "max_weight_grams",
            "corridor_m",
            "verification_status",
            "verified_at",
        ]
        read_only_fields = ["verification_status", "verified_at"]


class CourierProfileInputSerializer(serializers.Serializer):
    vehicle_type = serializers.ChoiceField(choices=VehicleType.choices)
    max_size_class = serializers.ChoiceField(choices=SizeClass.choices, required=False)
    max_weight_grams = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    corridor_m = serializers.IntegerField(min_value=50, max_value=20_000, required=False)


def _validate_time_zone(value: str) -> None:
    if value and (problem := zone_problem(value)):
        raise serializers.ValidationError(problem)


def _validate_language(value: str) -> None:
    if problem := language_problem(value):
        raise serializers.ValidationError(problem)


LANGUAGE_HELP = (
    "Language code of this person's pages, e-mails, push texts and API messages: one of "
    "settings.LANGUAGES (en, de, fr); empty: the request's Accept-Language, else the operator's."
)


class UserSerializer(serializers.ModelSerializer):
    courier_profile = CourierProfileSerializer(read_only=True)
    roles = serializers.ListField(child=serializers.CharField(), read_only=True)
    time_zone = serializers.SerializerMethodField(
        help_text="The IANA zone this person's times are shown in: their own, else the operator's."
    )

    def get_time_zone(self, user: User) -> str:
        return zone_of(user).key

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "full_name",
            "phone",
            "is_shipper",
            "is_courier",
            "roles",
            "courier_profile",
            "time_zone",
            "language",
            "date_joined",
        ]
        read_only_fields = ["id", "email", "is_courier", "roles", "date_joined"]


class UserUpdateSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=150, required=False)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    is_shipper = serializers.BooleanField(required=False)
    time_zone = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        validators=[_validate_time_zone],
        help_text="IANA name such as Europe/Berlin; empty: the operator's zone.",
    )
    language = serializers.CharField(
        max_length=8,
        required=False,
        allow_blank=True,
        validators=[_validate_language],
        help_text=LANGUAGE_HELP,
    )


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(
        write_only=True, min_length=8, style={"input_type": "password"}
    )
    full_name = serializers.CharField(max_length=150)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    is_shipper = serializers.BooleanField(default=True)
    is_courier = serializers.BooleanField(default=False)
    vehicle_type = serializers.ChoiceField(choices=VehicleType.choices, required=False)
    time_zone = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        validators=[_validate_time_zone],
        help_text="IANA name such as Europe/Berlin; empty: the operator's zone.",
    )
    language = serializers.CharField(
        max_length=8,
        required=False,
        allow_blank=True,
        default="",
        validators=[_validate_language],
        help_text=LANGUAGE_HELP,
    )


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RegisterResponseSerializer(serializers.Serializer):
    user = UserSerializer()
    tokens = TokenPairSerializer()


class AccountEraseSerializer(serializers.Serializer):
    """DELETE /me/: the account's password confirms the erasure."""

    password = serializers.CharField(trim_whitespace=False, write_only=True)
