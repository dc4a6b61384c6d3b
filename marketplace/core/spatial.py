"""How geometries are stored for matching.

Canonical geometries are WGS 84 (SRID 4326). Beside each one the database keeps a generated,
indexed copy in Web Mercator (SRID 3857): planar distance on it is several times faster than on
geography. Mercator stretches lengths by 1/cos(latitude), the same in every direction at a place,
so a metric distance d near latitude phi is d / cos(phi) Mercator units: the matching scales its
radius by that factor, then confirms each candidate on geography. This works for a city at any
latitude and in either hemisphere (Mercator is undefined only beyond +-85 degrees).
"""

from django.contrib.gis.db import models as gis_models
from django.contrib.gis.db.models.functions import Transform
from django.contrib.postgres.fields import DateTimeRangeField
from django.db import models
from django.db.models import F, Func

MERCATOR = 3857


def mercator_copy(
    field_name: str, geometry: type[gis_models.GeometryField]
) -> models.GeneratedField:
    """A stored column holding `field_name` transformed to Web Mercator."""
    return models.GeneratedField(
        expression=Transform(field_name, MERCATOR),
        output_field=geometry(srid=MERCATOR, spatial_index=False),
        db_persist=True,
        editable=False,
    )


def time_range(start_field: str, end_field: str) -> models.GeneratedField:
    """A stored `tstzrange(start, end)` column, so one GiST index can hold place and time."""
    return models.GeneratedField(
        expression=Func(
            F(start_field), F(end_field), function="tstzrange", output_field=DateTimeRangeField()
        ),
        output_field=DateTimeRangeField(),
        db_persist=True,
        editable=False,
    )
