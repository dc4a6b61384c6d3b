from typing import Any

from django.utils.translation import gettext_lazy
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsShipper(BasePermission):
    message = gettext_lazy("Only shippers can do this. Add the shipper role to your account.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_shipper)


class IsCourier(BasePermission):
    message = gettext_lazy("Only couriers can do this. Complete your courier profile first.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_courier)
