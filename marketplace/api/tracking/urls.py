from django.urls import path

from marketplace.api.tracking import views

urlpatterns = [
    path(
        "courier/deliveries/<int:pk>/pings/",
        views.CourierPingsApi.as_view(),
        name="api-courier-delivery-pings",
    ),
    path(
        "deliveries/<int:pk>/position/",
        views.DeliveryPositionApi.as_view(),
        name="api-delivery-position",
    ),
    path(
        "deliveries/<int:pk>/tracking-link/",
        views.DeliveryTrackingLinkApi.as_view(),
        name="api-delivery-tracking-link",
    ),
]
