from django.conf import settings
from rest_framework import serializers

from marketplace.payments.models import BankPayout, Payment, Tip, Transfer


class PaymentSerializer(serializers.ModelSerializer):
    publishable_key = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = [
            "id",
            "status",
            "amount",
            "platform_fee",
            "courier_share",
            "currency",
            "amount_refunded",
            "stripe_payment_intent_id",
            "client_secret",
            "publishable_key",
            "failure_message",
            "created_at",
        ]
        read_only_fields = fields

    def get_publishable_key(self, obj: Payment) -> str:
        return str(settings.STRIPE_PUBLISHABLE_KEY)


class PaymentStartSerializer(serializers.Serializer):
    payment_method = serializers.CharField(
        required=False, max_length=100, help_text="A saved PaymentMethod id, e.g. pm_card_visa."
    )
    card_token = serializers.RegexField(
        r"^tok_\w+$", required=False, help_text="A card token from Stripe.js."
    )


class TipInputSerializer(PaymentStartSerializer):
    amount = serializers.IntegerField(min_value=1, max_value=100_000)


class TipSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tip
        fields = ["id", "amount", "currency", "succeeded", "client_secret", "created_at"]
        read_only_fields = fields


class TransferSerializer(serializers.ModelSerializer):
    class Meta:
        model = Transfer
        fields = [
            "id",
            "kind",
            "amount",
            "currency",
            "status",
            "delivery",
            "not_before",
            "created_at",
        ]
        read_only_fields = fields


class BankPayoutSerializer(serializers.ModelSerializer):
    class Meta:
        model = BankPayout
        fields = [
            "stripe_payout_id",
            "amount",
            "currency",
            "status",
            "arrival_date",
            "failure_message",
            "created_at",
        ]
        read_only_fields = fields


class PayoutsSerializer(serializers.Serializer):
    onboarded = serializers.BooleanField()
    payouts_enabled = serializers.BooleanField()
    requirements_due = serializers.ListField(child=serializers.CharField())
    pending_amount = serializers.IntegerField()
    paid_amount = serializers.IntegerField()
    transfers = TransferSerializer(many=True)
    bank_payouts = BankPayoutSerializer(many=True)


class OnboardingLinkSerializer(serializers.Serializer):
    url = serializers.URLField()
