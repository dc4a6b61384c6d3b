from django.urls import path

from marketplace.api.accounts import views

urlpatterns = [
    path("auth/register/", views.RegisterApi.as_view(), name="api-register"),
    path("auth/token/", views.LoginApi.as_view(), name="api-token"),
    path("auth/token/refresh/", views.RefreshApi.as_view(), name="api-token-refresh"),
    path("auth/logout/", views.LogoutApi.as_view(), name="api-logout"),
    path("me/", views.MeApi.as_view(), name="api-me"),
    path("me/data/", views.MyDataApi.as_view(), name="api-my-data"),
    path("me/courier-profile/", views.CourierProfileApi.as_view(), name="api-courier-profile"),
]
