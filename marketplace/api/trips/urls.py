from rest_framework.routers import SimpleRouter

from marketplace.api.trips import views

router = SimpleRouter()
router.register("trips", views.TripViewSet, basename="trip")

urlpatterns = router.urls
