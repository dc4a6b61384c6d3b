"""Parcel size classes, shared by parcels and couriers' capacity."""

from django.db import models
from django.utils.translation import gettext_lazy


class SizeClass(models.TextChoices):
    """Parcel size classes, smallest first. Dimensions are the largest box of each class."""

    S = "S", gettext_lazy("Small (up to 35 x 25 x 10 cm)")
    M = "M", gettext_lazy("Medium (up to 45 x 35 x 20 cm)")
    L = "L", gettext_lazy("Large (up to 60 x 45 x 40 cm)")
    XL = "XL", gettext_lazy("Extra large (up to 120 x 80 x 60 cm)")

    @classmethod
    def rank(cls, value: str) -> int:
        return list(cls.values).index(value)


SIZE_DIMENSIONS_CM: dict[str, tuple[int, int, int]] = {
    SizeClass.S: (35, 25, 10),
    SizeClass.M: (45, 35, 20),
    SizeClass.L: (60, 45, 40),
    SizeClass.XL: (120, 80, 60),
}
