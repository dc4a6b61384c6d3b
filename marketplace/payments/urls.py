from django.urls import path

from marketplace.payments import webhooks

urlpatterns = [
    path("", webhooks.platform_webhook, name="stripe-webhook"),
    path("connect/", webhooks.connect_webhook, name="stripe-connect-webhook"),
]
