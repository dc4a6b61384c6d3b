from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("", include("marketplace.accounts.api.urls")),
    path("", include("marketplace.parcels.api.urls")),
    path("", include("marketplace.trips.api.urls")),
    path("", include("marketplace.matching.api.urls")),
    path("", include("marketplace.deliveries.api.urls")),
    path("", include("marketplace.payments.api.urls")),
    path("", include("marketplace.chat.api.urls")),
    path("", include("marketplace.tracking.api.urls")),
    path("", include("marketplace.returns.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]
