"""Public pages and accounts: home, sign-up, login, profile."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils.translation import gettext

from marketplace.accounts.models import CourierProfile
from marketplace.accounts.services import user_register, user_update_profile
from marketplace.core.exceptions import ApplicationError
from marketplace.core.languages import activate_for, signup_language
from marketplace.lifecycle.erasure import account_erase, erasure_blockers
from marketplace.lifecycle.personal_data import personal_data_download
from marketplace.web.erasure_forms import AccountEraseForm
from marketplace.web.forms import (
    EmailAuthenticationForm,
    ProfileForm,
    SignupForm,
)
from marketplace.web.views.common import (
    current_user,
)

# --- public pages and accounts ------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html")


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web:dashboard")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = user_register(
                email=data["email"],
                password=data["password1"],
                full_name=data["full_name"],
                phone=data["phone"],
                is_shipper=data["is_shipper"],
                is_courier=data["is_courier"],
                vehicle_type=data["vehicle_type"] or None,
                time_zone=data["time_zone"],
                # The language they signed up in: their e-mails speak it too (profile changes it).
                language=signup_language(),
            )
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
            messages.success(
                request,
                gettext("Welcome to %(SITE_NAME)s, %(get_short_name)s!")
                % {"SITE_NAME": settings.SITE_NAME, "get_short_name": user.get_short_name()},
            )
            return redirect("web:dashboard" if user.is_shipper else "web:profile")
    return render(request, "web/signup.html", {"form": form})


class EmailLoginView(LoginView):
    template_name = "registration/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    form = ProfileForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            user_update_profile(user=user, **form.profile_fields())
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            activate_for(request, user)  # a language just chosen says so already
            messages.success(request, gettext("Your profile is saved."))
            return redirect("web:profile")
    courier_profile = CourierProfile.objects.filter(user=user).select_related("verified_by").first()
    return render(
        request,
        "web/profile.html",
        {"form": form, "courier_profile": courier_profile},
    )


@login_required
def profile_data(request: HttpRequest) -> HttpResponse:
    """Download my data (a ZIP): GET only, never cached."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    name, body = personal_data_download(user=current_user(request))
    response = HttpResponse(body, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
def account_erase_page(request: HttpRequest) -> HttpResponse:
    """Delete my account: the password confirms it; what blocks it is shown as errors; once
    erased the person is logged out and sees what happened."""
    user = current_user(request)
    form = AccountEraseForm(request.POST or None, user=user)
    blockers = erasure_blockers(user=user)
    if request.method == "POST" and form.is_valid():
        try:
            account_erase(user=user, actor=user)
        except ApplicationError as exc:
            form.add_service_error(exc)
        else:
            logout(request)
            return redirect("web:account_erased")
    return render(request, "web/account_erase.html", {"form": form, "blockers": blockers})


def account_erased(request: HttpRequest) -> HttpResponse:
    return render(request, "web/account_erased.html")
