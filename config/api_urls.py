from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("", include("marketplace.api.accounts.urls")),
    path("", include("marketplace.api.parcels.urls")),
    path("", include("marketplace.api.trips.urls")),
    path("", include("marketplace.api.matching.urls")),
    path("", include("marketplace.api.deliveries.urls")),
    path("", include("marketplace.api.payments.urls")),
    path("", include("marketplace.api.chat.urls")),
    path("", include("marketplace.api.tracking.urls")),
    path("", include("marketplace.api.returns.urls")),
    path("", include("marketplace.api.merchants.urls")),
    path("", include("marketplace.api.hooks.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]
