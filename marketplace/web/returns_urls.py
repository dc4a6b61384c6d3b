from django.urls import path

from marketplace.web.views import returns as views

app_name = "returns"
urlpatterns = [
    path("parcels/<int:pk>/return/", views.parcel_return_request, name="request"),
    path("returns/<int:pk>/approve/", views.return_approve, name="approve"),
    path("returns/<int:pk>/refuse/", views.return_refuse, name="refuse"),
    path("t/<slug:token>/return/", views.public_return_request, name="public_request"),
]
