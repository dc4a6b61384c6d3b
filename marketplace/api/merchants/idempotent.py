"""Running a merchant API POST under its `Idempotency-Key` (marketplace.merchants.idempotency):
the first request's reply (2xx or 4xx) is stored and replayed to retries with the header
`Idempotent-Replayed: true`; 5xx replies are not stored, so a retry runs again."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.db import transaction
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketplace.api.merchants.authentication import request_merchant
from marketplace.core.exceptions import ApplicationError
from marketplace.merchants import idempotency

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


def _body(request: Request) -> Any:
    if request.FILES:
        files = {}
        for name, upload in request.FILES.items():
            files[name] = hashlib.sha256(upload.read()).hexdigest()
            upload.seek(0)
        data = request.data if isinstance(request.data, dict) else {}
        return {"files": files, "data": {k: v for k, v in data.items() if k not in files}}
    return request.data


def run_idempotent(view: APIView, request: Request, handler: Callable[[], Response]) -> Response:
    key = request.headers.get(HEADER)
    if key is None:
        return handler()
    merchant = request_merchant(request)
    digest = idempotency.request_hash(
        method=request.method or "POST", path=request.path, body=_body(request)
    )
    with transaction.atomic():
        record = idempotency.record_lock(
            merchant=merchant, scope=request.path, key=key.strip(), digest=digest
        )
        if record.response_status is not None:
            response = Response(record.response_body, status=record.response_status)
            response[REPLAYED] = "true"
            return response
        try:
            with transaction.atomic():
                response = handler()
        except (ApplicationError, APIException) as exc:
            response = view.handle_exception(exc)
        if response.status_code < 500:
            idempotency.record_store(record, status=response.status_code, body=response.data)
        return response
