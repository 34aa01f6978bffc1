from django.urls import path

from people import job_runs_views, job_views, notification_views, token_views, views

app_name = "people"

urlpatterns = [
    path("jobs/<int:pk>/", job_views.job_detail, name="job_detail"),
    path("jobs/<int:pk>/status/", job_views.job_status, name="job_status"),
    path("jobs/<int:pk>/download/", job_views.job_download, name="job_download"),
    path("inbox/", notification_views.inbox, name="inbox"),
    path("inbox/read-all/", notification_views.inbox_mark_all_read, name="inbox_mark_all_read"),
    path("inbox/preferences/", notification_views.inbox_preferences, name="inbox_preferences"),
    path("inbox/<int:pk>/read/", notification_views.inbox_mark_read, name="inbox_mark_read"),
    path("inbox/<int:pk>/open/", notification_views.inbox_open, name="inbox_open"),
    path("job-runs/", job_runs_views.job_runs, name="job_runs"),
    path("coes/", views.coe_list, name="coe_list"),
    path("coes/<int:pk>/", views.coe_detail, name="coe_detail"),
    path("training/", views.training_list, name="training_list"),
    path("training/<int:pk>/", views.training_detail, name="training_detail"),
    path("job-runs/<int:pk>/run/", job_runs_views.job_run_now, name="job_run_now"),
    path("tokens/", token_views.token_list, name="tokens"),
    path("tokens/<int:pk>/revoke/", token_views.token_revoke, name="token_revoke"),
]
