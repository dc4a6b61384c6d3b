"""One error type for business rules, and the one DRF exception handler.

Every API error has the same body::

    {"error": {"code": "...", "message": "...", "fields": {...}}}

`fields` maps field names to lists of messages and appears only for validation errors.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A business rule refused the request. The message is shown to the user as it is."""

    code = "invalid"
    status_code: int = status.HTTP_400_BAD_REQUEST

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
        fields: dict[str, list[str]] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.extra = extra or {}
        self.fields = fields or {}


class ConflictError(ApplicationError):
    """The object is not in a state that allows this (for example a forbidden status move)."""

    code = "conflict"
    status_code = status.HTTP_409_CONFLICT


class NotAllowedError(ApplicationError):
    """The user may not do this (their role or verification does not allow it)."""

    code = "permission_denied"
    status_code = status.HTTP_403_FORBIDDEN


class NotFoundError(ApplicationError):
    code = "not_found"
    status_code = status.HTTP_404_NOT_FOUND


class TooManyAttemptsError(ApplicationError):
    code = "too_many_attempts"
    status_code = status.HTTP_429_TOO_MANY_REQUESTS


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):  # request.data over DATA_UPLOAD_MAX_MEMORY_SIZE
        message = gettext(
            "The request body may be at most %(DATA_UPLOAD_MAX_MEMORY_SIZE)s bytes."
        ) % {"DATA_UPLOAD_MAX_MEMORY_SIZE": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
        too_large = {"code": "payload_too_large", "message": message}
        return Response({"error": too_large}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, ApplicationError):
        body: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.fields:
            body["fields"] = exc.fields
        if exc.extra:
            body["details"] = exc.extra
        return Response({"error": body}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {
            "error": {
                "code": "invalid",
                "message": gettext("The request has invalid fields."),
                "fields": _flatten(fields),
            }
        }
    else:
        detail, codes = exc.detail, exc.get_codes()
        if isinstance(detail, dict) and "detail" in detail and isinstance(codes, dict):
            # simplejwt's token errors carry {"detail": ..., "code": ..., "messages": [...]}.
            detail, codes = detail["detail"], codes["detail"]
        response.data = {
            "error": {
                "code": codes if isinstance(codes, str) else "error",
                "message": _flatten(detail),
            }
        }
    return response
