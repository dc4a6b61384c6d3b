"""How geometries are stored for matching.

Canonical geometries are WGS 84 (SRID 4326). Beside each one the database keeps a generated,
indexed copy in Web Mercator (SRID 3857): planar distance on it is several times faster than on
geography. Mercator stretches lengths by 1/cos(latitude), the same in every direction at a place,
so a metric distance d near latitude phi is d / cos(phi) Mercator units: the matching scales its
radius by that factor, then confirms each candidate on geography. This works for a city at any
latitude and in either hemisphere (Mercator is undefined only beyond +-85 degrees).
"""

from typing import Any

from django.contrib.gis.db import models as gis_models
from django.contrib.gis.db.models.functions import Transform
from django.contrib.postgres.fields import DateTimeRangeField
from django.db import models
from django.db.models import F, FloatField, Func

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


def with_coordinates(queryset: models.QuerySet[Any], *point_fields: str) -> models.QuerySet[Any]:
    """The rows with each point's longitude and latitude read by PostGIS (`<field>_x`,
    `<field>_y`, which core.api_fields.PointField writes), for lists that show only the
    coordinates and so leave the points out of their columns (`columns_except`). Parsing a
    point costs several GEOS calls through ctypes, each one releasing the GIL: under ASGI, with
    other threads waiting for it, those hand-offs made a 20-row list three times dearer in CPU
    than run alone."""
    coordinates = {
        f"{name}_{axis}": Func(F(name), function=f"ST_{axis.upper()}", output_field=FloatField())
        for name in point_fields
        for axis in ("x", "y")
    }
    return queryset.annotate(**coordinates)


def columns_except(model: type[models.Model], *names: str) -> list[str]:
    """The model's columns but `names`, for `QuerySet.only()`: the same rows as
    `defer(*names)`, but Django builds the column list from the names given, where `defer`
    walks (and hashes) every relation of the model on each query."""
    return [field.name for field in model._meta.concrete_fields if field.name not in names]
