from django.contrib.postgres.operations import BtreeGistExtension, CreateExtension
from django.db import migrations


class Migration(migrations.Migration):
    """PostGIS for geometries; btree_gist so GiST indexes can mix geometry and time ranges."""

    initial = True
    dependencies: list = []
    operations = [CreateExtension("postgis"), BtreeGistExtension()]
