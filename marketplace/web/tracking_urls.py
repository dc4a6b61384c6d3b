from django.urls import path

from marketplace.web.views import tracking as views

app_name = "tracking"
urlpatterns = [
    path("deliveries/<int:pk>/track/", views.delivery_track, name="delivery_track"),
    path("t/<slug:token>/", views.public_track, name="public_track"),
]
