from django.urls import include, path

from marketplace.api.parcels import views
from marketplace.api.routers import IdRouter

router = IdRouter()
router.register("parcels", views.ParcelViewSet, basename="parcel")
router.register("courier/open-parcels", views.OpenParcelViewSet, basename="open-parcel")

urlpatterns = [
    path("quotes/", views.QuoteApi.as_view(), name="api-quote"),
    path("parcel-rules/", views.ParcelRulesApi.as_view(), name="api-parcel-rules"),
    path("", include(router.urls)),
]
