import django_filters

from marketplace.core.filters import IntegerFilter, IsoDateTimeFilter
from marketplace.core.sizes import SizeClass
from marketplace.parcels.models import Parcel, ParcelStatus


class ParcelFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ParcelStatus.choices)
    size_class = django_filters.MultipleChoiceFilter(choices=SizeClass.choices)
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Parcel
        fields = ["status", "size_class"]


class OpenParcelFilter(django_filters.FilterSet):
    size_class = django_filters.MultipleChoiceFilter(choices=SizeClass.choices)
    max_weight_grams = IntegerFilter(field_name="weight_grams", lookup_expr="lte")
    pickup_after = IsoDateTimeFilter(field_name="pickup_window_end", lookup_expr="gte")
    pickup_before = IsoDateTimeFilter(field_name="pickup_window_start", lookup_expr="lte")

    class Meta:
        model = Parcel
        fields = ["size_class"]
