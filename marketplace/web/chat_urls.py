from django.urls import path

from marketplace.web.views import chat as views

app_name = "chat"
urlpatterns = [
    path("deliveries/<int:delivery_id>/chat/", views.delivery_chat, name="delivery_chat"),
    path(
        "deliveries/<int:delivery_id>/chat/contacts/",
        views.delivery_chat_contacts,
        name="delivery_chat_contacts",
    ),
]
