from django.urls import path

from marketplace.api.returns import views
from marketplace.api.routers import IdRouter

router = IdRouter()
router.register("returns", views.ReturnViewSet, basename="return")

urlpatterns = [
    path("parcels/<int:pk>/return/", views.ParcelReturnApi.as_view(), name="api-parcel-return"),
    path(
        "courier/deliveries/<int:pk>/send-back/",
        views.SendBackApi.as_view(),
        name="api-delivery-send-back",
    ),
    path("track/<slug:token>/return/", views.PublicReturnApi.as_view(), name="api-public-return"),
    *router.urls,
]
