"""A delivery's conversation over REST: history (cursor pages; `?since_id=` to catch up),
posting (JSON, or multipart with a photo), read receipts and the shipper's contact sharing.
The same rules as the WebSocket; anyone who is not a party (or staff) gets 404."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api.chat.serializers import (
    ConversationInputSerializer,
    ConversationSerializer,
    HistoryQuerySerializer,
    MessageInputSerializer,
    MessageSerializer,
    ReadInputSerializer,
    ReadOutputSerializer,
)
from marketplace.api.users import api_user
from marketplace.chat import selectors, services
from marketplace.chat.models import Message
from marketplace.chat.selectors import ChatAccess
from marketplace.core.exceptions import NotFoundError
from marketplace.core.parsers import WITH_UPLOADS
from marketplace.deliveries.models import Delivery


class MessageCursorPagination(CursorPagination):
    """Newest first (follow `next` for older messages); with `?since_id=`, oldest first (follow
    `next` for newer ones)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> tuple[str, ...]:
        return ("id",) if request.query_params.get("since_id") else ("-id",)


def _delivery_for(request: Request, pk: int) -> tuple[Delivery, ChatAccess]:
    delivery = selectors.chat_delivery(delivery_id=pk)
    if delivery is not None:
        access = selectors.chat_access(delivery=delivery, user=api_user(request))
        if access is not None:
            return delivery, access
    raise NotFoundError(gettext("No such conversation."))


def _share_contacts(delivery: Delivery) -> bool:
    conversation = selectors.conversation_of(delivery=delivery)
    return bool(conversation and conversation.share_contacts)


class DeliveryMessagesApi(GenericAPIView[Message]):
    parser_classes = WITH_UPLOADS
    pagination_class = MessageCursorPagination
    serializer_class = MessageSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Message]:
        return Message.objects.none()

    @extend_schema(parameters=[HistoryQuerySerializer], responses=MessageSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        delivery, _access = _delivery_for(request, pk)
        query = HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        messages = selectors.messages_of(delivery=delivery, **query.validated_data)
        page = self.paginate_queryset(messages)
        share = _share_contacts(delivery)
        data = [
            selectors.message_data(m, delivery=delivery, share_contacts=share) for m in page or []
        ]
        return self.get_paginated_response(data)

    @extend_schema(request=MessageInputSerializer, responses={201: MessageSerializer})
    def post(self, request: Request, pk: int) -> Response:
        delivery, _access = _delivery_for(request, pk)
        data = MessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_post(
            delivery=delivery,
            sender=api_user(request),
            body=data.validated_data["body"],
            image=data.validated_data["image"],
        )
        share = _share_contacts(delivery)
        return Response(
            selectors.message_data(message, delivery=delivery, share_contacts=share),
            status=status.HTTP_201_CREATED,
        )


class DeliveryMessagesReadApi(APIView):
    @extend_schema(request=ReadInputSerializer, responses=ReadOutputSerializer)
    def post(self, request: Request, pk: int) -> Response:
        delivery, _access = _delivery_for(request, pk)
        data = ReadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        last = services.messages_mark_read(
            delivery=delivery, user=api_user(request), message_id=data.validated_data["message_id"]
        )
        return Response({"last_read_message_id": last})


class DeliveryConversationApi(APIView):
    """The conversation's state for this user; the shipper PATCHes `share_contacts`."""

    def _state(self, request: Request, pk: int) -> Response:
        delivery, access = _delivery_for(request, pk)
        state = selectors.conversation_state(
            delivery=delivery, user=api_user(request), access=access
        )
        return Response(ConversationSerializer(state).data)

    @extend_schema(responses=ConversationSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return self._state(request, pk)

    @extend_schema(request=ConversationInputSerializer, responses=ConversationSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        delivery, _access = _delivery_for(request, pk)
        data = ConversationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.conversation_set_share_contacts(
            delivery=delivery, actor=api_user(request), share=data.validated_data["share_contacts"]
        )
        return self._state(request, pk)
