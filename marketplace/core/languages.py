"""Languages: the ones the site speaks (settings.LANGUAGES) and each person's own (User.language).

A request is answered in the signed-in person's language when they chose one; else in the one
their browser asks for (LocaleMiddleware reads the chooser's cookie, then Accept-Language); else
in settings.LANGUAGE_CODE. `UserLanguageMiddleware` does this for pages and session requests,
`LanguageJWTAuthentication` for API requests with a token. E-mails, push and text messages are
composed in their recipient's language (`in_language_of`), whoever caused them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication


def language_codes() -> tuple[str, ...]:
    return tuple(code for code, _name in settings.LANGUAGES)


def language_problem(code: str) -> str | None:
    """Why `code` is not a language we accept, or None (empty: the browser's, is accepted)."""
    if not code or code in language_codes():
        return None
    return gettext("'%(code)s' is not a language of this site; choose one of: %(codes)s.") % {
        "code": code[:16],
        "codes": ", ".join(language_codes()),
    }


def language_of(user: Any) -> str:
    """The language a person reads: their own, else the operator's."""
    code = getattr(user, "language", "") or ""
    return code if code in language_codes() else settings.LANGUAGE_CODE


def spoken_language(code: str) -> str:
    """The site's language closest to `code` ("de-AT" -> "de"), else the operator's: for people
    without an account, such as a parcel's recipient."""
    base = (code or "").split("-")[0].lower()
    return base if base in language_codes() else settings.LANGUAGE_CODE


def signup_language() -> str:
    """The language a page is being answered in, to keep for a person signing up on it."""
    code = translation.get_language() or ""
    return code if code in language_codes() else ""


@contextmanager
def in_language_of(user: Any) -> Iterator[str]:
    """Compose a text for `user` (an e-mail, a push) in their language."""
    code = language_of(user)
    with translation.override(code):
        yield code


def activate_for(request: HttpRequest | Request, user: Any) -> None:
    """The rest of the request speaks `user`'s language, when they chose one."""
    code = getattr(user, "language", "") or ""
    if code in language_codes():
        translation.activate(code)
        request.LANGUAGE_CODE = code  # type: ignore[union-attr]


class UserLanguageMiddleware:
    """After AuthenticationMiddleware (and LocaleMiddleware, which has activated the browser's
    language): a signed-in person's chosen language wins."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            activate_for(request, user)
        return self.get_response(request)


class LanguageJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication; the request then speaks the token user's chosen language
    (API requests with a token never pass AuthenticationMiddleware's session)."""

    def authenticate(self, request: Request) -> Any:
        result = super().authenticate(request)
        if result is not None:
            activate_for(request, result[0])
        return result


class LanguageJWTScheme(SimpleJWTScheme):  # type: ignore[misc]
    """The OpenAPI schema's "jwtAuth" scheme, as for simplejwt's own class."""

    target_class = "marketplace.core.languages.LanguageJWTAuthentication"
