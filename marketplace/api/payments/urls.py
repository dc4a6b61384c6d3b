from django.urls import path

from marketplace.api.payments import views

urlpatterns = [
    path("parcels/<int:pk>/payment/", views.ParcelPaymentApi.as_view(), name="api-parcel-payment"),
    path(
        "parcels/<int:pk>/payment/sync/",
        views.ParcelPaymentSyncApi.as_view(),
        name="api-parcel-payment-sync",
    ),
    path("parcels/<int:pk>/tip/", views.ParcelTipApi.as_view(), name="api-parcel-tip"),
    path("me/payouts/", views.PayoutsApi.as_view(), name="api-payouts"),
    path(
        "me/payouts/onboarding/",
        views.PayoutsOnboardingApi.as_view(),
        name="api-payouts-onboarding",
    ),
]
