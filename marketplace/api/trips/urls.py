from marketplace.api.routers import IdRouter
from marketplace.api.trips import views

router = IdRouter()
router.register("trips", views.TripViewSet, basename="trip")
router.register("trip-series", views.TripSeriesViewSet, basename="trip-series")

urlpatterns = router.urls
