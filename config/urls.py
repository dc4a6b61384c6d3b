import environ
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from marketplace.web.views.languages import language_choose

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("config.api_urls")),
    path("webhooks/stripe/", include("marketplace.api.stripe_webhooks")),
    # The language chooser (Django's set_language, storing a signed-in person's choice).
    path("i18n/setlang/", language_choose, name="set_language"),
    path("", include("marketplace.web.tracking_urls")),
    path("", include("marketplace.web.chat_urls")),
    path("", include("marketplace.web.returns_urls")),
    path("", include("marketplace.web.urls")),
]
# The bare DRF view that `manage.py bench_api` compares the API with: only on a server started
# with BENCH_BARE_VIEW=true in its environment (the bench's own uvicorn), never by default.
if getattr(settings, "BENCH_BARE_VIEW", environ.Env().bool("BENCH_BARE_VIEW", default=False)):
    from marketplace.bench.rest.bare import urlpatterns as bench_bare

    urlpatterns[:0] = bench_bare
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler400 = "marketplace.core.views.bad_request_answer"
handler404 = "marketplace.core.views.not_found"
handler500 = "marketplace.core.views.server_failure"
