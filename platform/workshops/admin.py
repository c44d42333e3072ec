from django.contrib import admin

from workshops.models import Assignment, Enrollment, Workshop


class AssignmentInline(admin.TabularInline):
    model = Assignment
    fields = ("order", "slug", "title", "kind", "released", "closed", "deadline")
    extra = 0


@admin.register(Workshop)
class WorkshopAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "join_code", "starts_at", "archived")
    search_fields = ("title", "slug", "join_code")
    inlines = [AssignmentInline]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("user", "workshop", "role", "active", "joined_at")
    list_filter = ("role", "active", "workshop")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "workshop",
        "kind",
        "order",
        "spec_version",
        "queue",
        "released",
        "closed",
    )
    list_filter = ("workshop", "kind", "queue")
