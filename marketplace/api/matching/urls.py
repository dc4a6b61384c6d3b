from django.urls import path

from marketplace.api.matching import views
from marketplace.api.routers import IdRouter

router = IdRouter()
router.register("courier/offers", views.OfferViewSet, basename="offer")
router.register("courier/bundles", views.BundleViewSet, basename="bundle")

urlpatterns = [
    path(
        "trips/<int:pk>/parcels-along/",
        views.ParcelsAlongTripApi.as_view(),
        name="api-parcels-along",
    ),
    path(
        "admin/parcels/<int:pk>/trips/",
        views.TripsForParcelApi.as_view(),
        name="api-trips-for-parcel",
    ),
    *router.urls,
]
