"""Who may act on an object the API has already shown them."""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from submissions.models import Submission


class IsSubmissionOwner(BasePermission):
    """Allow only the participant who made the submission (instructors read it)."""

    message = "Only the participant who made this submission can do that."

    def has_object_permission(
        self, request: Request, view: APIView, obj: Submission
    ) -> bool:
        return obj.participant_id == request.user.pk
