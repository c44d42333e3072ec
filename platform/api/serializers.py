"""JSON shapes of the API; they only read and validate, never write."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from submissions.models import FINAL_STATUSES, Grade, Run, Submission
from workshops.models import Assignment, Workshop


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    username = serializers.CharField()


class AssignmentSerializer(serializers.ModelSerializer):
    workshop = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    private_revealed = serializers.BooleanField(read_only=True)

    class Meta:
        model = Assignment
        fields = [
            "slug",
            "workshop",
            "title",
            "kind",
            "order",
            "deadline",
            "daily_limit",
            "score_policy",
            "released",
            "closed",
            "reveal_private",
            "private_revealed",
            "final_limit",
        ]
        read_only_fields = fields


class AssignmentDetailSerializer(AssignmentSerializer):
    instructions_md = serializers.CharField(read_only=True)
    submissions_used_today = serializers.IntegerField(read_only=True)
    submissions_left_today = serializers.IntegerField(read_only=True)

    class Meta(AssignmentSerializer.Meta):
        fields = [
            *AssignmentSerializer.Meta.fields,
            "instructions_md",
            "submissions_used_today",
            "submissions_left_today",
        ]
        read_only_fields = fields


class WorkshopSerializer(serializers.ModelSerializer):
    """A workshop with my role and the assignments that role sees.

    The view sets ``role`` and ``assignments_visible`` on each workshop.
    """

    role = serializers.CharField(read_only=True, allow_null=True)
    assignments = serializers.SerializerMethodField()

    class Meta:
        model = Workshop
        fields = [
            "slug",
            "title",
            "description",
            "starts_at",
            "ends_at",
            "archived",
            "role",
            "assignments",
        ]
        read_only_fields = fields

    @extend_schema_field(AssignmentSerializer(many=True))
    def get_assignments(self, workshop: Workshop) -> list:
        return AssignmentSerializer(workshop.assignments_visible, many=True).data


class SubmissionSerializer(serializers.ModelSerializer):
    workshop = serializers.CharField(source="assignment.workshop.slug", read_only=True)
    assignment = serializers.CharField(source="assignment.slug", read_only=True)
    participant = serializers.CharField(
        source="participant.get_username", read_only=True
    )
    reason = serializers.CharField(source="status_reason", read_only=True)
    final = serializers.SerializerMethodField()
    marked_final = serializers.SerializerMethodField()
    score = serializers.FloatField(
        source="current_grade.score", read_only=True, allow_null=True, default=None
    )
    public_accuracy = serializers.FloatField(
        source="current_grade.public_accuracy",
        read_only=True,
        allow_null=True,
        default=None,
    )

    class Meta:
        model = Submission
        fields = [
            "id",
            "workshop",
            "assignment",
            "participant",
            "original_name",
            "format",
            "size",
            "sha256",
            "status",
            "reason",
            "final",
            "marked_final",
            "cancel_requested",
            "score",
            "public_accuracy",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_final(self, submission: Submission) -> bool:
        return submission.status in FINAL_STATUSES

    def get_marked_final(self, submission: Submission) -> bool:
        """Say whether its participant marked it final for the private ranking."""
        return submission.final_at is not None


class SubmissionDetailSerializer(SubmissionSerializer):
    queue_position = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta(SubmissionSerializer.Meta):
        fields = [*SubmissionSerializer.Meta.fields, "queue_position"]
        read_only_fields = fields


class SubmissionCreateSerializer(serializers.Serializer):
    workshop = serializers.SlugField(
        required=False, help_text="Workshop slug; optional when you are in only one."
    )
    assignment = serializers.SlugField(help_text="Assignment slug, e.g. cnn.")
    # The service gives the participant-readable refusals (empty, wrong type...).
    file = serializers.FileField(
        required=False, allow_empty_file=True, use_url=False, max_length=None
    )


class LogSerializer(serializers.Serializer):
    run = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField(allow_null=True)
    running = serializers.BooleanField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField()
    text = serializers.CharField(allow_blank=True)
    truncated = serializers.BooleanField()
    status = serializers.CharField()
    final = serializers.BooleanField()

    @staticmethod
    def build(*, submission: Submission, run: Run | None, offset: int) -> dict:
        """Return the log from ``offset`` on, with where to continue next time."""
        log = run.log if run is not None else ""
        start = min(max(offset, 0), len(log))
        return {
            "run": run.pk if run is not None else None,
            "kind": run.kind if run is not None else None,
            "running": bool(run is not None and run.is_running),
            "offset": start,
            "next_offset": len(log),
            "text": log[start:],
            "truncated": bool(run is not None and run.log_truncated),
            "status": submission.status,
            "final": submission.status in FINAL_STATUSES,
        }


class GradeSerializer(serializers.ModelSerializer):
    submission = serializers.IntegerField(source="submission_id", read_only=True)
    status = serializers.SerializerMethodField()
    reason = serializers.SerializerMethodField()
    max_score = serializers.SerializerMethodField()
    layers = serializers.SerializerMethodField()
    params_total = serializers.SerializerMethodField()
    params_trainable = serializers.SerializerMethodField()
    per_class_accuracy = serializers.SerializerMethodField()
    confusion_matrix = serializers.SerializerMethodField()
    private_accuracy = serializers.SerializerMethodField()
    private_score = serializers.SerializerMethodField()

    class Meta:
        model = Grade
        fields = [
            "id",
            "submission",
            "status",
            "reason",
            "score",
            "max_score",
            "passed_checks",
            "public_accuracy",
            "private_accuracy",
            "private_score",
            "checks",
            "layers",
            "params_total",
            "params_trainable",
            "per_class_accuracy",
            "confusion_matrix",
            "grader_version",
            "spec_version",
            "created_at",
        ]
        read_only_fields = fields

    def _report(self, grade: Grade, key: str, default: object = None) -> object:
        return (grade.report or {}).get(key, default)

    def _show_private(self) -> bool:
        return bool(self.context.get("show_private"))

    def get_status(self, grade: Grade) -> str:
        return str(self._report(grade, "status", "graded"))

    def get_reason(self, grade: Grade) -> str:
        return str(self._report(grade, "reason", "") or "")

    def get_max_score(self, grade: Grade) -> float:
        return float(self._report(grade, "max_score", 100.0))

    def get_layers(self, grade: Grade) -> list:
        return list(self._report(grade, "layers", []) or [])

    def get_params_total(self, grade: Grade) -> int:
        return int(self._report(grade, "params_total", 0) or 0)

    def get_params_trainable(self, grade: Grade) -> int:
        return int(self._report(grade, "params_trainable", 0) or 0)

    def get_per_class_accuracy(self, grade: Grade) -> list:
        # Computed on the public split by the grader.
        return list(self._report(grade, "per_class_accuracy", []) or [])

    def get_confusion_matrix(self, grade: Grade) -> list:
        return list(self._report(grade, "confusion_matrix", []) or [])

    def get_private_accuracy(self, grade: Grade) -> float | None:
        return grade.private_accuracy if self._show_private() else None

    def get_private_score(self, grade: Grade) -> float | None:
        if not self._show_private():
            return None
        value = self._report(grade, "private_score")
        return float(value) if value is not None else None


class LeaderboardRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    participant = serializers.CharField()
    score = serializers.FloatField(allow_null=True)
    public_accuracy = serializers.FloatField(allow_null=True)
    private_accuracy = serializers.FloatField(allow_null=True)
    passed_checks = serializers.BooleanField()
    submitted_at = serializers.DateTimeField()
    submission_id = serializers.IntegerField(allow_null=True)
    finals = serializers.IntegerField()


class LeaderboardSerializer(serializers.Serializer):
    workshop = serializers.CharField()
    assignment = serializers.CharField()
    score_policy = serializers.CharField()
    part = serializers.ChoiceField(choices=["public", "private"])
    private_revealed = serializers.BooleanField()
    final_limit = serializers.IntegerField()
    rows = LeaderboardRowSerializer(many=True)


class FinalMarkSerializer(serializers.Serializer):
    final = serializers.BooleanField(
        help_text="true to mark the submission final, false to unmark it."
    )


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
