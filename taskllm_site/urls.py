from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from apps.accounts.login_guard import ThrottledAuthenticationForm
from apps.deployments import endpoints as deployment_endpoints

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="projects:list"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm),
         name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("projects/", include("apps.projects.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.datasets.urls")),
    path("", include("apps.llm.urls")),
    path("", include("apps.prompts.urls")),
    path("", include("apps.runs.urls")),
    path("", include("apps.review.urls")),
    path("", include("apps.tuning.urls")),
    path("", include("apps.evals.urls")),
    path("", include("apps.deployments.urls")),
    # Called by applications with a deployment key (apps/deployments/api.py), not by members.
    path("api/deployments/<slug:slug>/predict", deployment_endpoints.predict, name="deployment-predict"),
    path("api/traces/<str:trace_id>/feedback", deployment_endpoints.feedback, name="trace-feedback"),
    path("v1/chat/completions", deployment_endpoints.chat_completions, name="gateway-chat"),
    path("api/", include("taskllm_site.api_urls")),
    path("admin/", admin.site.urls),
]

handler500 = "apps.core.errors.server_error"  # the branded 500 page with the navigation
