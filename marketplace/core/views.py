"""Site-wide error views: API paths (and Stripe's webhooks) answer with the API's JSON error
body, web pages with a page."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.views.defaults import bad_request, page_not_found, server_error

JSON_PREFIXES = ("/api/", "/webhooks/")


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PREFIXES)


def too_large_message() -> str:
    return gettext("The request body may be at most %(DATA_UPLOAD_MAX_MEMORY_SIZE)s bytes.") % {
        "DATA_UPLOAD_MAX_MEMORY_SIZE": settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    }


def bad_request_answer(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's answer to a request it refused while reading it (SuspiciousOperation): a body
    over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413, too many form fields and the rest a 400."""
    if isinstance(exception, RequestDataTooBig):
        code, message, status = "payload_too_large", too_large_message(), 413
    elif isinstance(exception, TooManyFieldsSent):
        code, status = "too_many_fields", 400
        message = gettext(
            "A request may carry at most %(DATA_UPLOAD_MAX_NUMBER_FIELDS)s fields."
        ) % {"DATA_UPLOAD_MAX_NUMBER_FIELDS": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}
    else:
        code, message, status = (
            "bad_request",
            gettext("The request could not be read."),
            400,
        )
    if _wants_json(request):
        return JsonResponse({"error": {"code": code, "message": message}}, status=status)
    response = bad_request(request, exception)
    response.status_code = status
    return response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_json(request):
        body = {
            "error": {
                "code": "not_found",
                "message": gettext("No API endpoint at %(path)s.") % {"path": request.path},
            }
        }
        return JsonResponse(body, status=404)
    return page_not_found(request, exception)


def server_failure(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        body = {
            "error": {
                "code": "server_error",
                "message": gettext("Something went wrong on our side."),
            }
        }
        return JsonResponse(body, status=500)
    return server_error(request)
