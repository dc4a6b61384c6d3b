from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsShipper(BasePermission):
    message = "Only shippers can do this. Add the shipper role to your account."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_shipper)


class IsCourier(BasePermission):
    message = "Only couriers can do this. Complete your courier profile first."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_courier)
