from rest_framework.routers import SimpleRouter

from marketplace.trips.api import views

router = SimpleRouter()
router.register("trips", views.TripViewSet, basename="trip")

urlpatterns = router.urls
