from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from marketplace.accounts.models import CourierProfile, User, VerificationStatus
from marketplace.accounts.services import courier_set_verification
from marketplace.backoffice.admin.common import admin_user
from marketplace.backoffice.admin.personal_data import ErasedFilter, PersonalDataAdminMixin


class CourierProfileInline(admin.StackedInline):
    model = CourierProfile
    fk_name = "user"
    can_delete = False
    extra = 0
    readonly_fields = ["verified_at", "verified_by"]


@admin.register(User)
class UserAdmin(PersonalDataAdminMixin, DjangoUserAdmin):
    ordering = ["email"]
    list_display = [
        "email",
        "full_name",
        "is_shipper",
        "is_courier",
        "is_staff",
        "date_joined",
        "is_erased",
    ]
    list_filter = [
        "is_shipper",
        "is_courier",
        "is_staff",
        "is_active",
        ErasedFilter,
        "date_joined",
    ]
    search_fields = ["email", "full_name", "phone"]
    readonly_fields = ["last_login", "date_joined", "erased_at", "personal_data_links"]
    # The list's "Run the retention purge now" link (personal_data.PersonalDataAdminMixin).
    change_list_template = "admin/accounts/user/change_list.html"
    inlines = [CourierProfileInline]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name", "phone")}),
        ("Roles", {"fields": ("is_shipper", "is_courier")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
        ("Personal data", {"fields": ("personal_data_links", "erased_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "full_name",
                    "is_shipper",
                    "is_courier",
                    "password1",
                    "password2",
                ),
            },
        ),
    )


def _set_verification(
    request: HttpRequest, queryset: QuerySet[CourierProfile], status: str
) -> None:
    for profile in queryset:
        courier_set_verification(profile=profile, status=status, admin=admin_user(request))


@admin.register(CourierProfile)
class CourierProfileAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "vehicle_type",
        "max_size_class",
        "max_weight_grams",
        "corridor_m",
        "verification_status",
        "verified_at",
    ]
    list_filter = ["verification_status", "vehicle_type", "max_size_class"]
    search_fields = ["user__email", "user__full_name"]
    readonly_fields = ["verified_at", "verified_by", "created_at", "updated_at"]
    list_select_related = ["user"]
    actions = ["verify", "reject", "suspend"]

    @admin.action(description="Verify selected couriers")
    def verify(self, request: HttpRequest, queryset: QuerySet[CourierProfile]) -> None:
        _set_verification(request, queryset, VerificationStatus.VERIFIED)
        messages.success(request, f"Verified {queryset.count()} courier(s).")

    @admin.action(description="Reject selected couriers")
    def reject(self, request: HttpRequest, queryset: QuerySet[CourierProfile]) -> None:
        _set_verification(request, queryset, VerificationStatus.REJECTED)
        messages.success(request, f"Rejected {queryset.count()} courier(s).")

    @admin.action(description="Suspend selected couriers")
    def suspend(self, request: HttpRequest, queryset: QuerySet[CourierProfile]) -> None:
        _set_verification(request, queryset, VerificationStatus.SUSPENDED)
        messages.success(request, f"Suspended {queryset.count()} courier(s).")

    def save_model(self, request: HttpRequest, obj: CourierProfile, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        # Verification set in the form goes through the service so it is stamped.
        super().save_model(request, obj, form, change)
        if "verification_status" in form.changed_data:
            courier_set_verification(
                profile=obj, status=obj.verification_status, admin=admin_user(request)
            )
