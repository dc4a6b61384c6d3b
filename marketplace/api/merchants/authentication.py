"""Server-to-server authentication for merchants: `Authorization: Api-Key wp_live_<prefix>.<s>`.

`request.user` is the merchant's owner (the person its deliveries are posted as) and
`request.auth` the MerchantApiKey. Keys are per merchant, scoped (read / write) and throttled
per key (MERCHANT_API_READ_RATE / MERCHANT_API_WRITE_RATE)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.permissions import OperandHolder, SingleOperandHolder
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from marketplace.merchants import services as merchants
from marketplace.merchants.models import Merchant, MerchantApiKey

KEYWORD = "Api-Key"


class MerchantKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, MerchantApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, text = header.partition(" ")
        if keyword != KEYWORD:
            return None
        key = merchants.api_key_parse(text.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown, malformed or revoked API key.")
        if not key.merchant.is_active:
            raise exceptions.AuthenticationFailed("This merchant is deactivated.")
        owner = merchants.merchant_owner_user(key.merchant)
        if owner is None or not owner.is_active:
            raise exceptions.AuthenticationFailed("This merchant has no active owner.")
        merchants.api_key_touch(key)
        return owner, key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


def request_key(request: Request) -> MerchantApiKey | None:
    return request.auth if isinstance(request.auth, MerchantApiKey) else None


def request_merchant(request: Request) -> Merchant:
    """The merchant of the key that authenticated the request (HasMerchantKey checked it)."""
    key = request_key(request)
    assert key is not None, "HasMerchantKey must guard this view"
    return key.merchant


class HasMerchantKey(permissions.BasePermission):
    """A merchant API key is required; writes need a key with the write scope."""

    message = gettext_lazy("A merchant API key is required (Authorization: Api-Key ...).")

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request_key(request)
        if key is None:
            return False
        if request.method not in permissions.SAFE_METHODS and not key.can_write:
            self.message = gettext_lazy("This API key is read-only.")
            return False
        return True


class MerchantKeyThrottle(SimpleRateThrottle):
    """Per key: reads and writes each have their own budget; 429 with Retry-After."""

    scope = "merchant_key"

    def get_rate(self) -> str | None:
        return None  # chosen per request in allow_request

    def allow_request(self, request: Request, view: Any) -> bool:
        key = request_key(request)
        if key is None:
            return True
        write = request.method not in permissions.SAFE_METHODS
        self.rate = settings.MERCHANT_API_WRITE_RATE if write else settings.MERCHANT_API_READ_RATE
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.kind = "write" if write else "read"
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = request_key(request)
        if key is None:
            return None
        return f"throttle_merchant_key_{self.kind}_{key.prefix}"


class MerchantKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[misc]
    target_class = "marketplace.api.merchants.authentication.MerchantKeyAuthentication"
    name = "merchantApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key wp_live_<prefix>.<secret>` (or `wp_test_...`).",
        }


_PermissionClass = type[permissions.BasePermission] | OperandHolder | SingleOperandHolder


class MerchantKeyView:
    """Mixed into every view a merchant's key calls: the key only, its scope, its throttles."""

    authentication_classes: Sequence[type[authentication.BaseAuthentication]] = [
        MerchantKeyAuthentication
    ]
    permission_classes: Sequence[_PermissionClass] = [HasMerchantKey]
    throttle_classes: Sequence[type[BaseThrottle]] = [MerchantKeyThrottle]
