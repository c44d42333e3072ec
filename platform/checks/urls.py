from django.urls import path

from checks import views

urlpatterns = [
    path(
        "checks/assignment/<int:assignment_id>/",
        views.check_start,
        name="check-start",
    ),
    path("checks/<int:check_id>/", views.check_detail, name="check-detail"),
]
