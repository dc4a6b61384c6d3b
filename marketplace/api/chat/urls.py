from django.urls import path

from marketplace.api.chat import views

urlpatterns = [
    path(
        "deliveries/<int:pk>/messages/",
        views.DeliveryMessagesApi.as_view(),
        name="api-delivery-messages",
    ),
    path(
        "deliveries/<int:pk>/messages/read/",
        views.DeliveryMessagesReadApi.as_view(),
        name="api-delivery-messages-read",
    ),
    path(
        "deliveries/<int:pk>/conversation/",
        views.DeliveryConversationApi.as_view(),
        name="api-delivery-conversation",
    ),
]
