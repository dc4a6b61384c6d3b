from typing import Any

import factory

from marketplace.merchants import services
from marketplace.merchants.models import MemberRole, Merchant, MerchantMember, PickupLocation
from tests.factories.accounts import ShipperFactory
from tests.factories.geo import ALEXANDERPLATZ, pt


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Shop {n}")
    contact_email = factory.Sequence(lambda n: f"shop{n}@example.com")
    billing_mode = "invoice"


class MerchantMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MerchantMember

    merchant = factory.SubFactory(MerchantFactory)
    user = factory.SubFactory(ShipperFactory)
    role = MemberRole.OWNER


class PickupLocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PickupLocation

    merchant = factory.SubFactory(MerchantFactory)
    name = "Main store"
    point = factory.LazyFunction(lambda: pt(ALEXANDERPLATZ))
    address = "Alexanderplatz 1, 10178 Berlin"
    contact_name = "Store desk"
    contact_phone = "+49 30 3333333"


def merchant_with_key(**key: Any) -> tuple[Merchant, str]:
    """A merchant with an owner and one key (write, live unless told)."""
    owner = MerchantMemberFactory()
    _, text = services.api_key_create(merchant=owner.merchant, name="server", **key)
    return owner.merchant, text
