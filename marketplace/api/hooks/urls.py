from marketplace.api.hooks import views
from marketplace.api.routers import IdRouter

router = IdRouter()
router.register("merchant/webhooks", views.EndpointViewSet, basename="merchant-webhook")

urlpatterns = router.urls
