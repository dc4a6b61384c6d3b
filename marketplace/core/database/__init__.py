"""The PostGIS database backend Waypost runs on (ENGINE "marketplace.core.database")."""
