"""The chat over REST: history pages and catching up, posting text and photos, receipts, contact
sharing; the same rules as the socket, and 404 for anyone who is not a party."""

import pytest

from marketplace.chat import services
from marketplace.chat.models import Conversation, Message, ReadReceipt
from tests.chat.conftest import api, delivered_days_ago, dispute, image_upload

pytestmark = pytest.mark.django_db


def post(chat, sender, body):
    return services.message_post(delivery=chat.delivery, sender=sender, body=body)


def test_history_newest_first_in_cursor_pages(chat):
    ids = [post(chat, chat.shipper if n % 2 else chat.courier, f"m{n}").pk for n in range(5)]
    client = api(chat.courier)

    first = client.get(chat.messages_url, {"page_size": 2}).json()
    assert [m["id"] for m in first["results"]] == ids[::-1][:2]
    seen = [m["id"] for m in first["results"]]
    url = first["next"]
    while url:
        page = client.get(url).json()
        seen += [m["id"] for m in page["results"]]
        url = page["next"]
    assert seen == ids[::-1]
    message = first["results"][0]
    assert set(message) == {
        "id",
        "sender_id",
        "sender_name",
        "sender_role",
        "body",
        "image_url",
        "created_at",
    }
    assert message["sender_role"] == "courier" and message["image_url"] is None


def test_since_id_returns_what_was_missed_oldest_first(chat):
    ids = [post(chat, chat.courier, f"m{n}").pk for n in range(5)]
    client = api(chat.shipper)

    page = client.get(chat.messages_url, {"since_id": ids[1], "page_size": 2}).json()
    got = [m["id"] for m in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        got += [m["id"] for m in page["results"]]
    assert got == ids[2:]
    assert client.get(chat.messages_url, {"since_id": ids[-1]}).json()["results"] == []

    older = client.get(chat.messages_url, {"before_id": ids[2]}).json()
    assert [m["id"] for m in older["results"]] == [ids[1], ids[0]]


@pytest.mark.parametrize(
    "query", [{"since_id": "x"}, {"since_id": -1}, {"since_id": 1, "before_id": 9}]
)
def test_bad_history_queries_are_400(chat, query):
    response = api(chat.shipper).get(chat.messages_url, query)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


def test_history_before_the_first_message_is_empty(chat):
    response = api(chat.shipper).get(chat.messages_url)
    assert response.status_code == 200 and response.json()["results"] == []
    assert not Conversation.objects.exists()  # reading does not create it


def test_post_json_and_multipart_with_a_photo(chat):
    client = api(chat.shipper)
    response = client.post(chat.messages_url, {"body": "Hi Kurt"}, format="json")
    assert response.status_code == 201
    assert response.json()["body"] == "Hi Kurt" and response.json()["sender_role"] == "shipper"

    response = client.post(
        chat.messages_url, {"body": "", "image": image_upload("WEBP")}, format="multipart"
    )
    assert response.status_code == 201
    assert response.json()["image_url"].startswith("/media/chat/")
    assert response.json()["image_url"].endswith(".webp")
    assert Message.objects.count() == 2


def test_refused_posts_say_why_and_store_nothing(chat, settings):
    client = api(chat.courier)
    settings.CHAT_MAX_LENGTH = 10

    too_long = client.post(chat.messages_url, {"body": "x" * 11}, format="json")
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "too_long"
    assert "body" in too_long.json()["error"]["fields"]

    gif = client.post(chat.messages_url, {"image": image_upload("GIF")}, format="multipart")
    assert gif.status_code == 400 and gif.json()["error"]["code"] == "invalid_image"

    empty = client.post(chat.messages_url, {}, format="json")
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "empty"

    settings.CHAT_RATE_LIMIT = 1
    assert client.post(chat.messages_url, {"body": "ok"}, format="json").status_code == 201
    limited = client.post(chat.messages_url, {"body": "again"}, format="json")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert limited.json()["error"]["details"]["retry_after"] >= 1
    assert list(Message.objects.values_list("body", flat=True)) == ["ok"]


def test_closed_conversation_is_409_but_its_history_stays(chat, settings):
    post(chat, chat.courier, "Delivered!")
    delivered_days_ago(chat, settings.CHAT_CLOSE_DAYS + 1)
    client = api(chat.shipper)
    response = client.post(chat.messages_url, {"body": "Thanks"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conversation_closed"
    assert len(client.get(chat.messages_url).json()["results"]) == 1
    state = client.get(f"/api/v1/deliveries/{chat.delivery.pk}/conversation/").json()
    assert state["closed"] is True and state["can_post"] is False


def test_strangers_get_404_everywhere_and_change_nothing(chat, stranger):
    post(chat, chat.courier, "secret")
    client = api(stranger)
    base = f"/api/v1/deliveries/{chat.delivery.pk}"
    assert client.get(chat.messages_url).status_code == 404
    assert client.post(chat.messages_url, {"body": "hi"}, format="json").status_code == 404
    assert client.post(f"{base}/messages/read/", {"message_id": 1}).status_code == 404
    assert client.get(f"{base}/conversation/").status_code == 404
    assert client.patch(f"{base}/conversation/", {"share_contacts": True}).status_code == 404
    assert Message.objects.count() == 1 and not ReadReceipt.objects.filter(user=stranger)
    assert not Conversation.objects.filter(share_contacts=True).exists()
    assert api(None).get(chat.messages_url).status_code == 401
    assert api(chat.shipper).get("/api/v1/deliveries/999999/messages/").status_code == 404


def test_staff_read_everything_and_write_only_during_a_dispute(chat, staff):
    post(chat, chat.courier, "call 0176 12345678")
    client = api(staff)
    history = client.get(chat.messages_url).json()["results"]
    assert history[0]["body"] == "call [phone hidden]"

    refused = client.post(chat.messages_url, {"body": "Support here"}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "read_only"
    assert Message.objects.count() == 1

    dispute(chat)
    done = client.post(chat.messages_url, {"body": "Support here"}, format="json")
    assert done.status_code == 201 and done.json()["sender_role"] == "support"


def test_read_receipt_endpoint(chat):
    first = post(chat, chat.courier, "one").pk
    post(chat, chat.courier, "two")
    url = f"/api/v1/deliveries/{chat.delivery.pk}/messages/read/"
    client = api(chat.shipper)
    assert client.post(url, {"message_id": first}).json() == {"last_read_message_id": first}
    assert client.post(url, {"message_id": 0}).status_code == 400
    state = client.get(f"/api/v1/deliveries/{chat.delivery.pk}/conversation/").json()
    assert state["unread"] == 1 and state["last_read_message_id"] == first
    assert state["read_by"][str(chat.shipper.pk)] == first


def test_shipper_shares_contacts_and_history_unmasks(chat):
    post(chat, chat.courier, "mail kurt@example.com")
    url = f"/api/v1/deliveries/{chat.delivery.pk}/conversation/"

    courier_try = api(chat.courier).patch(url, {"share_contacts": True}, format="json")
    assert courier_try.status_code == 403
    assert courier_try.json()["error"]["code"] == "not_shipper"
    assert api(chat.courier).get(chat.messages_url).json()["results"][0]["body"] == (
        "mail [email hidden]"
    )

    response = api(chat.shipper).patch(url, {"share_contacts": True}, format="json")
    assert response.status_code == 200 and response.json()["share_contacts"] is True
    assert response.json()["role"] == "shipper" and response.json()["can_post"] is True
    assert api(chat.courier).get(chat.messages_url).json()["results"][0]["body"] == (
        "mail kurt@example.com"
    )
