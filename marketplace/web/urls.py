from django.contrib.auth.views import LogoutView
from django.urls import path

from marketplace.web import views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.EmailLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("profile/", views.profile, name="profile"),
    path("parcels/", views.dashboard, name="dashboard"),
    path("parcels/new/", views.parcel_create, name="parcel_create"),
    path("parcels/quote/", views.parcel_quote, name="parcel_quote"),
    path("parcels/<int:pk>/", views.parcel_detail, name="parcel_detail"),
    path("parcels/<int:pk>/edit/", views.parcel_edit, name="parcel_edit"),
    path("parcels/<int:pk>/cancel/", views.parcel_cancel, name="parcel_cancel"),
    path("parcels/<int:pk>/status/", views.parcel_status, name="parcel_status"),
    path(
        "parcels/<int:pk>/codes/<slug:kind>/renew/",
        views.parcel_reissue_code,
        name="parcel_reissue_code",
    ),
    path("parcels/<int:pk>/rate/", views.parcel_rate, name="parcel_rate"),
    path("parcels/<int:pk>/pay/", views.parcel_pay, name="parcel_pay"),
    path("parcels/<int:pk>/pay/sync/", views.parcel_pay_sync, name="parcel_pay_sync"),
    path("parcels/<int:pk>/tip/", views.parcel_tip, name="parcel_tip"),
    path("parcels/<int:pk>/tips/<int:tip_pk>/sync/", views.parcel_tip_sync, name="parcel_tip_sync"),
    # Stripe's onboarding sends couriers back to these (payments.services.connect_onboarding_link).
    path("payouts/", views.payouts, name="payouts"),
    path("payouts/onboarding/", views.payouts_onboarding, name="payouts_onboarding"),
]
