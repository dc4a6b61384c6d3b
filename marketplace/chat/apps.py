from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "marketplace.chat"
    label = "chat"
    verbose_name = "Chat"
