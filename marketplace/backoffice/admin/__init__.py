"""Django admin for every model, one module per domain app; admin actions go through the same
lifecycle and services as the web site and the API. Django's autodiscovery imports this
package, which registers them all."""

from marketplace.backoffice.admin import (  # noqa: F401  (each module registers its ModelAdmins)
    accounts,
    chat,
    deliveries,
    hooks,
    matching,
    merchants,
    notifications,
    parcels,
    payments,
    returns,
    tracking,
    trips,
)
