"""API views: authenticate, look the object up for this user, call one service."""

from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import render
from django.utils.translation import gettext as _
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import api_token_issue
from accounts.throttles import login_attempt_start, refusal_message
from api import selectors
from api.parsers import BoundedJSONParser
from api.permissions import IsSubmissionOwner
from api.serializers import (
    AssignmentDetailSerializer,
    DetailSerializer,
    FinalMarkSerializer,
    GradeSerializer,
    LeaderboardSerializer,
    LogSerializer,
    SubmissionCreateSerializer,
    SubmissionDetailSerializer,
    SubmissionSerializer,
    TokenRequestSerializer,
    TokenSerializer,
    WorkshopSerializer,
)
from api.throttles import SettingsScopedRateThrottle
from api.uploads import UploadTooLarge
from dashboard.selectors import leaderboard, leaderboard_part
from submissions import uploads
from submissions.models import Submission
from submissions.selectors import queue_position
from submissions.services.finals import submission_mark_final
from submissions.services.intake import submission_create, submissions_used_today
from submissions.services.lifecycle import submission_cancel
from web.lane import upload_lane
from workshops.models import Assignment, Enrollment, Workshop


def _refusal(exc: DjangoValidationError, code: int = 400) -> Response:
    """Turn a service's ValidationError into ``{"detail": ...}``."""
    return Response({"detail": " ".join(exc.messages)}, status=code)


def _with_role(user, workshops: list[Workshop]) -> list[Workshop]:
    """Attach the user's role and the assignments that role sees to each workshop."""
    roles = dict(
        Enrollment.objects.filter(
            user=user, workshop__in=workshops, active=True
        ).values_list("workshop_id", "role")
    )
    for workshop in workshops:
        workshop.role = roles.get(workshop.pk)
        workshop.assignments_visible = list(
            selectors.assignment_list_for_role(workshop=workshop, role=workshop.role)
        )
    return workshops


def _visible_submission(request: Request, pk: int) -> Submission:
    submission = selectors.submission_get_visible(user=request.user, pk=pk)
    if submission is None:
        raise NotFound(_("No submission with that id for you."))
    return submission


class TokenView(APIView):
    """Exchange a username and password for an API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [BoundedJSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, 400: DetailSerializer},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        """Return the user's token, making a new one on first use or once expired."""
        form = TokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        username = form.validated_data["username"]
        attempt = login_attempt_start(request._request, username=username)
        if attempt.wait is not None:
            return Response(
                {"detail": refusal_message(attempt.wait)},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(attempt.wait)},
            )
        user = authenticate(
            request._request,
            username=username,
            password=form.validated_data["password"],
        )
        if user is None or not user.is_active:
            return Response(
                {"detail": "Wrong username or password."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        attempt.succeeded()
        token = api_token_issue(user=user)
        return Response({"token": token.key, "username": user.get_username()})


class WorkshopListView(APIView):
    """The workshops I take part in or teach, with their assignments."""

    @extend_schema(responses=WorkshopSerializer(many=True))
    def get(self, request: Request) -> Response:
        workshops = _with_role(
            request.user, list(selectors.workshop_list_for_user(user=request.user))
        )
        return Response(WorkshopSerializer(workshops, many=True).data)


class WorkshopDetailView(APIView):
    """One of my workshops, with its assignments."""

    @extend_schema(responses=WorkshopSerializer)
    def get(self, request: Request, workshop: str) -> Response:
        found = selectors.workshop_get_for_user(user=request.user, slug=workshop)
        if found is None:
            raise NotFound(_("No workshop with that slug for you."))
        return Response(WorkshopSerializer(_with_role(request.user, [found])[0]).data)


def _visible_assignment(
    request: Request, workshop: str | None, slug: str
) -> tuple[Assignment, str]:
    """Return the assignment and the user's role; the workshop may be left out
    where only one of the user's workshops has the assignment."""
    found = selectors.assignment_list_for_user(
        user=request.user, slug=slug, workshop_slug=workshop
    )
    if not found:
        raise NotFound(_("No assignment with that slug in your workshops."))
    if len(found) > 1:
        raise _Ambiguous([assignment.workshop.slug for assignment, _role in found])
    return found[0]


class AssignmentDetailView(APIView):
    """An assignment: its instructions and how many submissions I have left."""

    @extend_schema(responses=AssignmentDetailSerializer)
    def get(self, request: Request, workshop: str, slug: str) -> Response:
        assignment, _role = _visible_assignment(request, workshop, slug)
        used = submissions_used_today(participant=request.user, assignment=assignment)
        assignment.submissions_used_today = used
        assignment.submissions_left_today = max(assignment.daily_limit - used, 0)
        return Response(AssignmentDetailSerializer(assignment).data)


class LeaderboardView(APIView):
    """The leaderboard of an assignment: public ranking, private once revealed.

    ``?part=public`` or ``?part=private``; the default is the private ranking
    once the assignment is closed, the public one before. Before the close only
    instructors may ask for the private ranking or see private accuracy.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("part", str, enum=["public", "private"], required=False)
        ],
        responses={200: LeaderboardSerializer, 400: DetailSerializer},
    )
    def get(self, request: Request, workshop: str, slug: str) -> Response:
        assignment, role = _visible_assignment(request, workshop, slug)
        teaches = role == Enrollment.Role.INSTRUCTOR
        revealed = assignment.private_revealed
        part = request.query_params.get("part") or leaderboard_part(
            assignment=assignment
        )
        if part not in ("public", "private"):
            return Response(
                {"detail": "part must be public or private."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if part == "private" and not (teaches or revealed):
            return Response(
                {
                    "detail": "The private ranking is revealed when the "
                    "instructor closes the assignment."
                },
                status=status.HTTP_403_FORBIDDEN,
            )
        show_private = teaches or revealed
        rows = [
            {
                **row,
                "participant": row["username"],
                "submission_id": row["submission_id"] if teaches else None,
            }
            for row in leaderboard(
                assignment=assignment, include_private=show_private, part=part
            )
        ]
        data = {
            "workshop": assignment.workshop.slug,
            "assignment": assignment.slug,
            "score_policy": assignment.score_policy,
            "part": part,
            "private_revealed": revealed,
            "final_limit": assignment.final_limit,
            "rows": rows,
        }
        return Response(LeaderboardSerializer(data).data)


class SubmissionFinalView(APIView):
    """Mark one of my graded submissions as final (or unmark it)."""

    @extend_schema(
        request=FinalMarkSerializer,
        responses={
            200: SubmissionDetailSerializer,
            400: DetailSerializer,
            403: DetailSerializer,
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        body = FinalMarkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            submission_mark_final(
                participant=request.user,
                submission_id=pk,
                final=body.validated_data["final"],
            )
        except DjangoValidationError as exc:
            return _refusal(exc)
        except DjangoPermissionDenied as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        submission = _visible_submission(request, pk)
        submission.queue_position = queue_position(submission=submission)
        return Response(SubmissionDetailSerializer(submission).data)


class SubmissionListCreateView(APIView):
    """My submissions (GET), or submit a .py or .ipynb file (POST, multipart)."""

    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = "submissions"

    def get_throttles(self) -> list:
        # Only uploads are rate limited; following a submission is not.
        if self.request.method == "POST":
            return [SettingsScopedRateThrottle()]
        return []

    def initial(self, request: Request, *args, **kwargs) -> None:
        if request.method == "POST":
            # Before authentication: a session's CSRF check reads the body.
            try:
                self.upload_guard = uploads.guard_upload(request._request)
            except uploads.UploadTooLarge:
                raise UploadTooLarge() from None
        super().initial(request, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter("workshop", str, description="Only this workshop."),
            OpenApiParameter("assignment", str, description="Only this assignment."),
        ],
        responses=SubmissionSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        submissions = selectors.submission_list_for_owner(
            user=request.user,
            workshop_slug=request.query_params.get("workshop"),
            assignment_slug=request.query_params.get("assignment"),
        )
        return Response(SubmissionSerializer(submissions, many=True).data)

    @extend_schema(
        request={"multipart/form-data": SubmissionCreateSerializer},
        responses={
            201: SubmissionDetailSerializer,
            400: DetailSerializer,
            404: DetailSerializer,
            413: DetailSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        # The body is read (capped) before the lane, so a participant who
        # sends slowly never holds it; only the storing waits its turn.
        request.data  # noqa: B018
        with upload_lane():
            return self._create(request)

    def _create(self, request: Request) -> Response:
        form = SubmissionCreateSerializer(data=request.data)
        if self.upload_guard.exceeded:
            raise UploadTooLarge()
        if not form.is_valid():
            return Response(
                {"detail": _field_errors(form.errors), "errors": form.errors},
                status=status.HTTP_400_BAD_REQUEST,
            )
        assignment, _role = _visible_assignment(
            request,
            form.validated_data.get("workshop"),
            form.validated_data["assignment"],
        )
        try:
            submission = submission_create(
                participant=request.user,
                assignment=assignment,
                upload=form.validated_data.get("file"),
            )
        except DjangoValidationError as exc:
            return _refusal(exc)
        submission.queue_position = queue_position(submission=submission)
        return Response(
            SubmissionDetailSerializer(submission).data, status=status.HTTP_201_CREATED
        )


class _Ambiguous(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "ambiguous_workshop"

    def __init__(self, slugs: list[str]) -> None:
        super().__init__(
            "Several of your workshops have this assignment; say which with "
            f"workshop= (one of: {', '.join(slugs)})."
        )


def _field_errors(errors: dict) -> str:
    return " ".join(
        f"{field}: {' '.join(map(str, msgs))}" for field, msgs in errors.items()
    )


class SubmissionDetailView(APIView):
    """A submission's status, the reason for it and its place in the queue."""

    @extend_schema(responses=SubmissionDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        submission = _visible_submission(request, pk)
        submission.queue_position = queue_position(submission=submission)
        return Response(SubmissionDetailSerializer(submission).data)


class SubmissionLogView(APIView):
    """The latest training run's log from ``offset`` on, to follow it as it grows."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "offset",
                int,
                description="Characters already read; start again at 0 when the "
                "run id changes.",
            )
        ],
        responses=LogSerializer,
    )
    def get(self, request: Request, pk: int) -> Response:
        submission = _visible_submission(request, pk)
        try:
            offset = int(request.query_params.get("offset", 0))
        except ValueError:
            return Response(
                {"detail": "offset must be a whole number of characters."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        run = selectors.run_latest_training(submission=submission)
        return Response(
            LogSerializer.build(submission=submission, run=run, offset=offset)
        )


class SubmissionGradeView(APIView):
    """The current grade: score, accuracy, checks and layers."""

    @extend_schema(responses={200: GradeSerializer, 404: DetailSerializer})
    def get(self, request: Request, pk: int) -> Response:
        submission = _visible_submission(request, pk)
        grade = submission.current_grade
        if grade is None:
            raise NotFound(_("This submission has no grade yet."))
        assignment = submission.assignment
        show_private = assignment.private_revealed or selectors.is_instructor(
            user=request.user, workshop=assignment.workshop
        )
        return Response(
            GradeSerializer(grade, context={"show_private": show_private}).data
        )


class SubmissionCancelView(APIView):
    """Cancel one of my submissions that has not finished."""

    permission_classes = [IsAuthenticated, IsSubmissionOwner]

    @extend_schema(request=None, responses=SubmissionDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        submission = _visible_submission(request, pk)
        self.check_object_permissions(request, submission)
        submission_cancel(submission=submission)
        submission = _visible_submission(request, pk)
        submission.queue_position = queue_position(submission=submission)
        return Response(SubmissionDetailSerializer(submission).data)


def api_docs(request) -> object:
    """Render the endpoint list from the OpenAPI schema, with no CDN script."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    endpoints = [
        {
            "method": method.upper(),
            "path": path,
            "summary": operation.get("description", "").strip(),
        }
        for path, methods in schema.get("paths", {}).items()
        for method, operation in methods.items()
    ]
    return render(
        request, "api/docs.html", {"endpoints": endpoints, "info": schema["info"]}
    )
