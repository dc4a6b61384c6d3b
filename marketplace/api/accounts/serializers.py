from rest_framework import serializers

from marketplace.accounts.models import CourierProfile, User, VehicleType
from marketplace.core.sizes import SizeClass


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


class UserSerializer(serializers.ModelSerializer):
    courier_profile = CourierProfileSerializer(read_only=True)
    roles = serializers.ListField(child=serializers.CharField(), read_only=True)

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
            "date_joined",
        ]
        read_only_fields = ["id", "email", "is_courier", "roles", "date_joined"]


class UserUpdateSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=150, required=False)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    is_shipper = serializers.BooleanField(required=False)


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


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RegisterResponseSerializer(serializers.Serializer):
    user = UserSerializer()
    tokens = TokenPairSerializer()
