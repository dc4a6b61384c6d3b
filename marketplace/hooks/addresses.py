"""Where webhooks may be sent: an http(s) URL whose host resolves only to public addresses.
Private, loopback, link-local, multicast and reserved addresses are refused (checked when the
endpoint is saved and again, after resolving, before each send), unless HOOKS_ALLOW_LOOPBACK
allows loopback (tests, development). https is required unless HOOKS_ALLOW_HTTP."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class AddressRefused(ValueError):
    """The URL may not be called; the message says why."""


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("Use an http(s) URL with a host.")
    if parts.scheme == "http" and not settings.HOOKS_ALLOW_HTTP:
        raise AddressRefused("Use https.")
    if parts.username or parts.password:
        raise AddressRefused("Credentials in the URL are not allowed.")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"The host {parts.hostname!r} does not resolve.") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_loopback and settings.HOOKS_ALLOW_LOOPBACK:
            continue
        if (
            address.is_private
            or address.is_loopback
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        ):
            raise AddressRefused(f"{parts.hostname} resolves to a non-public address ({address}).")
