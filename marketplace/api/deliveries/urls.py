from django.urls import path

from marketplace.api.deliveries import views
from marketplace.api.routers import IdRouter

router = IdRouter()
router.register("courier/deliveries", views.CourierDeliveryViewSet, basename="courier-delivery")

urlpatterns = [
    path("trips/<int:pk>/stops/", views.TripStopsApi.as_view(), name="api-trip-stops"),
    path(
        "parcels/<int:pk>/delivery/", views.ParcelDeliveryApi.as_view(), name="api-parcel-delivery"
    ),
    path("parcels/<int:pk>/rate/", views.ParcelRateApi.as_view(), name="api-parcel-rate"),
    path(
        "parcels/<int:pk>/reissue-code/",
        views.ParcelReissueCodeApi.as_view(),
        name="api-parcel-reissue-code",
    ),
    *router.urls,
]
