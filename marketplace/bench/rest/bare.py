"""The bare DRF view `bench_api` measures the API beside: a tiny JSON answer and nothing else.

Mounted at /api/v1/bench/bare/ only when the server's environment sets BENCH_BARE_VIEW=true
(config/urls.py); never by default. It keeps the project's API defaults (JWT or session
authentication, IsAuthenticated, the anon and user throttles), as the parcel list does: the
comparison then shows what the endpoint itself costs (its queries, pagination, serializer) on
top of the framework, the middleware and the JWT check that every API call pays.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

BARE_PATH = "api/v1/bench/bare/"


@extend_schema(exclude=True)
class BareApi(APIView):
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


urlpatterns = [path(BARE_PATH, BareApi.as_view(), name="bench-bare")]
