from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portfolio import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("people/", include("people.urls")),
    path("finance/", include("finance.urls")),
    path("governance/", include("governance.urls")),
    path("api/", include("portfolio.api.urls")),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "AI Portfolio administration"
admin.site.site_title = "AI Portfolio"
