from django.contrib import admin

from submissions.models import Grade, RegradeBatch, Run, Submission


class RunInline(admin.TabularInline):
    model = Run
    fields = ("kind", "queue", "host", "started_at", "finished_at", "outcome")
    readonly_fields = fields
    extra = 0


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("pk", "participant", "assignment", "status", "created_at")
    list_filter = ("status", "assignment__workshop", "assignment")
    search_fields = ("participant__username", "original_name", "sha256")
    raw_id_fields = ("participant", "current_grade", "batch")
    inlines = [RunInline]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("pk", "submission", "kind", "host", "outcome", "started_at")
    list_filter = ("kind", "outcome", "queue")
    raw_id_fields = ("submission",)


@admin.register(Grade)
class GradeAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "submission",
        "score",
        "public_accuracy",
        "spec_version",
        "created_at",
    )
    raw_id_fields = ("submission", "run")


@admin.register(RegradeBatch)
class RegradeBatchAdmin(admin.ModelAdmin):
    list_display = ("pk", "assignment", "mode", "state", "created_at")
