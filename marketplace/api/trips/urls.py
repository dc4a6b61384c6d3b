from marketplace.api.routers import IdRouter
from marketplace.api.trips import views

router = IdRouter()
router.register("trips", views.TripViewSet, basename="trip")

urlpatterns = router.urls
