from django.contrib.auth.views import LogoutView
from django.urls import path

from marketplace.web.views import accounts, hooks, merchant, parcels, payments, payouts

app_name = "web"
urlpatterns = [
    path("", accounts.home, name="home"),
    path("signup/", accounts.signup, name="signup"),
    path("login/", accounts.EmailLoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
    path("profile/", accounts.profile, name="profile"),
    path("profile/data/", accounts.profile_data, name="profile_data"),
    path("profile/delete/", accounts.account_erase_page, name="account_erase"),
    path("account-deleted/", accounts.account_erased, name="account_erased"),
    path("parcels/", parcels.dashboard, name="dashboard"),
    path("parcels/new/", parcels.parcel_create, name="parcel_create"),
    path("parcels/quote/", parcels.parcel_quote, name="parcel_quote"),
    path("parcels/<int:pk>/", parcels.parcel_detail, name="parcel_detail"),
    path("parcels/<int:pk>/edit/", parcels.parcel_edit, name="parcel_edit"),
    path("parcels/<int:pk>/cancel/", parcels.parcel_cancel, name="parcel_cancel"),
    path("parcels/<int:pk>/status/", parcels.parcel_status, name="parcel_status"),
    path(
        "parcels/<int:pk>/codes/<slug:kind>/renew/",
        parcels.parcel_reissue_code,
        name="parcel_reissue_code",
    ),
    path("parcels/<int:pk>/rate/", parcels.parcel_rate, name="parcel_rate"),
    path("parcels/<int:pk>/pay/", payments.parcel_pay, name="parcel_pay"),
    path("parcels/<int:pk>/pay/sync/", payments.parcel_pay_sync, name="parcel_pay_sync"),
    path("parcels/<int:pk>/tip/", payments.parcel_tip, name="parcel_tip"),
    path(
        "parcels/<int:pk>/tips/<int:tip_pk>/sync/", payments.parcel_tip_sync, name="parcel_tip_sync"
    ),
    # Stripe's onboarding sends couriers back to these (payments.payouts.connect_onboarding_link).
    path("payouts/", payouts.payouts, name="payouts"),
    path("payouts/onboarding/", payouts.payouts_onboarding, name="payouts_onboarding"),
    path("merchant/", merchant.merchant_home, name="merchant"),
    path("merchant/keys/", merchant.merchant_key_create, name="merchant_key_create"),
    path(
        "merchant/keys/<slug:prefix>/revoke/",
        merchant.merchant_key_revoke,
        name="merchant_key_revoke",
    ),
    path("merchant/uploads/", merchant.merchant_upload_create, name="merchant_upload_create"),
    path("merchant/uploads/<int:pk>/", merchant.merchant_upload, name="merchant_upload"),
    path(
        "merchant/uploads/<int:pk>/status/",
        merchant.merchant_upload_status,
        name="merchant_upload_status",
    ),
    path("merchant/webhooks/", hooks.hooks_endpoints, name="merchant_webhooks"),
    path("merchant/webhooks/<int:pk>/", hooks.hooks_endpoint, name="merchant_webhook"),
    path(
        "merchant/webhooks/<int:pk>/roll-secret/",
        hooks.hooks_endpoint_roll_secret,
        name="merchant_webhook_roll_secret",
    ),
    path(
        "merchant/webhooks/<int:pk>/test/",
        hooks.hooks_endpoint_test,
        name="merchant_webhook_test",
    ),
    path(
        "merchant/webhooks/<int:pk>/deliveries/<int:delivery_pk>/redeliver/",
        hooks.hooks_delivery_redeliver,
        name="merchant_webhook_redeliver",
    ),
]
