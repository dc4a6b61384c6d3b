"""The chat page: who sees it, its history and live panel hooks, the form without JavaScript, the
shipper's contact switch, and the read-only admin."""

import pytest
from django.urls import reverse

from marketplace.chat import services
from marketplace.chat.models import Conversation, Message
from tests.chat.conftest import delivered_days_ago, dispute, image_upload
from tests.web.conftest import text_of

pytestmark = pytest.mark.django_db


def page(chat) -> str:
    return reverse("chat:delivery_chat", args=[chat.delivery.pk])


def test_the_page_url(chat):
    assert page(chat) == f"/deliveries/{chat.delivery.pk}/chat/"


def test_shipper_sees_history_masked_and_the_live_panel_hooks(client, chat):
    services.message_post(delivery=chat.delivery, sender=chat.courier, body="Call 0176 12345678")
    services.message_post(delivery=chat.delivery, sender=chat.shipper, body="<b>Sure</b>")
    client.force_login(chat.shipper)

    response = client.get(page(chat))
    html = response.content.decode()
    assert response.status_code == 200
    assert text_of(html, "chat-with") == "With Kurt (your courier)"
    assert "Call [phone hidden]" in text_of(html, "chat-log")
    assert "&lt;b&gt;Sure&lt;/b&gt;" in html and "<b>Sure</b>" not in html
    assert f'data-ws-path="/ws/deliveries/{chat.delivery.pk}/chat/"' in html
    assert f'data-messages-url="/api/v1/deliveries/{chat.delivery.pk}/messages/"' in html
    assert 'data-can-post="true"' in html and "js/chat.js" in html
    assert "chat-form" in html and "chat-contacts-share" in html


def test_courier_and_staff_see_it_strangers_and_anonymous_do_not(client, chat, staff, stranger):
    client.force_login(chat.courier)
    html = client.get(page(chat)).content.decode()
    assert text_of(html, "chat-with") == "With Sara (the shipper)"
    assert "chat-contacts" not in html  # the switch is the shipper's

    client.force_login(staff)
    html = client.get(page(chat)).content.decode()
    assert "reading this conversation as staff" in text_of(html, "chat-support-note")
    assert 'data-can-post="false"' in html and 'data-testid="chat-form"' not in html

    client.force_login(stranger)
    assert client.get(page(chat)).status_code == 404
    client.logout()
    response = client.get(page(chat))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_form_works_without_javascript(client, chat):
    client.force_login(chat.courier)
    response = client.post(page(chat), {"body": "At the door", "image": image_upload("PNG")})
    assert response.status_code == 302 and response["Location"].endswith("#chat-form")
    message = Message.objects.get()
    assert message.body == "At the door" and message.image.name.endswith(".png")

    response = client.post(page(chat), {"body": ""}, follow=True)
    assert "Write a message or attach a photo." in text_of(response.content.decode(), "messages")
    assert Message.objects.count() == 1


def test_a_closed_conversation_shows_its_history_without_a_form(client, chat, settings):
    services.message_post(delivery=chat.delivery, sender=chat.courier, body="Delivered")
    delivered_days_ago(chat, settings.CHAT_CLOSE_DAYS + 1)
    client.force_login(chat.shipper)
    html = client.get(page(chat)).content.decode()
    assert "closed to new messages" in text_of(html, "chat-closed")
    assert 'data-live="false"' in html and 'data-testid="chat-form"' not in html
    assert "Delivered" in text_of(html, "chat-log")

    response = client.post(page(chat), {"body": "thanks"}, follow=True)
    assert "closed to new messages" in text_of(response.content.decode(), "messages")
    assert Message.objects.count() == 1


def test_staff_can_write_from_the_page_during_a_dispute(client, chat, staff):
    dispute(chat)
    client.force_login(staff)
    html = client.get(page(chat)).content.decode()
    assert "payment is disputed" in text_of(html, "chat-support-note")
    client.post(page(chat), {"body": "Support here"})
    assert Message.objects.get().sender == staff


def test_shipper_switches_contact_sharing(client, chat):
    url = reverse("chat:delivery_chat_contacts", args=[chat.delivery.pk])
    services.message_post(delivery=chat.delivery, sender=chat.courier, body="kurt@example.com")

    client.force_login(chat.courier)
    client.post(url, {"share_contacts": "1"})
    assert not Conversation.objects.get().share_contacts

    client.force_login(chat.shipper)
    response = client.post(url, {"share_contacts": "1"}, follow=True)
    assert Conversation.objects.get().share_contacts
    assert "kurt@example.com" in text_of(response.content.decode(), "chat-log")
    client.post(url, {"share_contacts": "0"})
    assert not Conversation.objects.get().share_contacts


def test_admin_lists_conversations_with_their_messages_read_only(client, chat):
    from tests.factories.accounts import UserFactory

    services.message_post(delivery=chat.delivery, sender=chat.courier, body="Call 0176 12345678")
    conversation = Conversation.objects.get()
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)

    listing = client.get(reverse("admin:chat_conversation_changelist"))
    assert listing.status_code == 200
    change = client.get(reverse("admin:chat_conversation_change", args=[conversation.pk]))
    html = change.content.decode()
    assert change.status_code == 200
    assert "Call 0176 12345678" in html  # staff read what was really written
    assert page(chat) in html
    assert client.get(reverse("admin:chat_conversation_add")).status_code == 403
