import factory

from marketplace.accounts.models import CourierProfile, User, VerificationStatus

PASSWORD = "correct-horse-battery-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    phone = "+49 30 1234567"
    is_shipper = True
    is_courier = False
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ShipperFactory(UserFactory):
    pass


class CourierFactory(UserFactory):
    is_shipper = False
    is_courier = True
    profile = factory.RelatedFactory(
        "tests.factories.accounts.CourierProfileFactory", factory_related_name="user"
    )


class CourierProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CourierProfile

    user = factory.SubFactory(UserFactory, is_courier=True, is_shipper=False)
    vehicle_type = "bike"
    max_size_class = "M"
    max_weight_grams = 10_000
    corridor_m = 1_000
    verification_status = VerificationStatus.VERIFIED
