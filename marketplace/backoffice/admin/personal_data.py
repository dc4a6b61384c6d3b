"""The User admin's personal-data tools (docs/personal-data.md, "In the admin"): download a
person's data (the same ZIP they get from their profile page), erase an account (a confirmation
page that shows what blocks it; `account_erase` with the staff member as actor), the erased
filter and column, and the retention purge run now (a page with the counts of a dry run first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy

from marketplace.accounts.models import User
from marketplace.backoffice.admin.common import admin_user
from marketplace.core.exceptions import ApplicationError
from marketplace.lifecycle.erasure import account_erase, erasure_blockers
from marketplace.lifecycle.personal_data import personal_data_download
from marketplace.lifecycle.retention import retention_purge

if TYPE_CHECKING:
    _Base = admin.ModelAdmin[User]
else:
    _Base = object


class ErasedFilter(admin.SimpleListFilter):
    title = gettext_lazy("erased")
    parameter_name = "erased"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", gettext("Erased")), ("no", gettext("Not erased"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        if self.value() == "yes":
            return queryset.filter(erased_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(erased_at__isnull=True)
        return queryset


def _zip_response(name: str, body: bytes) -> HttpResponse:
    response = HttpResponse(body, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


class PersonalDataAdminMixin(_Base):
    """Mixed into the User admin."""

    actions = ["download_personal_data", "erase_account"]

    @admin.display(boolean=True, description=gettext_lazy("erased"), ordering="erased_at")
    def is_erased(self, obj: User) -> bool:
        return obj.erased_at is not None

    @admin.display(description=gettext_lazy("Personal data"))
    def personal_data_links(self, obj: User) -> str:
        if obj.pk is None:
            return ""
        download = reverse("admin:accounts_user_personal_data", args=[obj.pk])
        if obj.erased_at is not None:
            return format_html(
                '<a href="{}">{}</a> · {}',
                download,
                gettext("Download personal data"),
                gettext("Erased on %(date)s") % {"date": f"{obj.erased_at:%Y-%m-%d %H:%M}"},
            )
        erase = reverse("admin:accounts_user_erase", args=[obj.pk])
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            download,
            gettext("Download personal data"),
            erase,
            gettext("Erase account"),
        )

    def get_urls(self) -> list[URLPattern]:  # type: ignore[override]
        site = self.admin_site
        own = [
            path(
                "<int:pk>/personal-data/",
                site.admin_view(self.personal_data_view),
                name="accounts_user_personal_data",
            ),
            path("<int:pk>/erase/", site.admin_view(self.erase_view), name="accounts_user_erase"),
            path(
                "retention-purge/",
                site.admin_view(self.retention_view),
                name="accounts_user_retention_purge",
            ),
        ]
        return own + super().get_urls()  # type: ignore[operator]

    # --- actions on the list ------------------------------------------------------------------
    def _one(self, request: HttpRequest, queryset: QuerySet[User]) -> User | None:
        if queryset.count() != 1:
            messages.error(request, gettext("Select exactly one person."))
            return None
        return queryset.get()

    @admin.action(description=gettext_lazy("Download personal data (ZIP)"))
    def download_personal_data(
        self, request: HttpRequest, queryset: QuerySet[User]
    ) -> HttpResponse | None:
        user = self._one(request, queryset)
        return None if user is None else _zip_response(*personal_data_download(user=user))

    @admin.action(description=gettext_lazy("Erase account…"))
    def erase_account(self, request: HttpRequest, queryset: QuerySet[User]) -> HttpResponse | None:
        user = self._one(request, queryset)
        if user is None:
            return None
        return HttpResponseRedirect(reverse("admin:accounts_user_erase", args=[user.pk]))

    # --- pages ----------------------------------------------------------------------------------
    def personal_data_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        user = get_object_or_404(User, pk=pk)
        if not self.has_view_permission(request, user):
            raise PermissionDenied
        return _zip_response(*personal_data_download(user=user))

    def erase_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        user = get_object_or_404(User, pk=pk)
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        change_url = reverse("admin:accounts_user_change", args=[user.pk])
        if request.method == "POST" and user.erased_at is None:
            try:
                account_erase(user=user, actor=admin_user(request))
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, gettext("Account %(id)s erased.") % {"id": user.pk})
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Erase account"),
            "person": user,
            "blockers": [] if user.erased_at else erasure_blockers(user=user),
            "opts": self.model._meta,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/accounts/user/erase_confirm.html", context)

    def retention_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            counts = retention_purge()
            messages.success(
                request,
                gettext("Retention purge done: %(counts)s")
                % {"counts": ", ".join(f"{k} {v}" for k, v in counts.items())},
            )
            return HttpResponseRedirect(reverse("admin:accounts_user_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Run the retention purge now"),
            "counts": retention_purge(dry_run=True),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/accounts/user/retention_purge.html", context)
