from marketplace.api.merchants import views
from marketplace.api.routers import IdRouter

router = IdRouter()
router.register("merchant/deliveries", views.MerchantDeliveryViewSet, basename="merchant-delivery")
router.register("merchant/locations", views.PickupLocationViewSet, basename="merchant-location")
router.register("merchant/keys", views.ApiKeyViewSet, basename="merchant-key")

urlpatterns = router.urls
