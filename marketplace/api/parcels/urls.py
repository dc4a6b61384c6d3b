from django.urls import include, path
from rest_framework.routers import SimpleRouter

from marketplace.api.parcels import views

router = SimpleRouter()
router.register("parcels", views.ParcelViewSet, basename="parcel")
router.register("courier/open-parcels", views.OpenParcelViewSet, basename="open-parcel")

urlpatterns = [
    path("quotes/", views.QuoteApi.as_view(), name="api-quote"),
    path("", include(router.urls)),
]
