"""Keep standings current on every save, whichever service made it.

Each receiver is thin: it calls one service in `submissions.services.standings`.
A status change or a recorded grade reaches the database through
`Submission.save()` (never `QuerySet.update()`), so this one hook covers
submit, grade, regrade, rerun, cancel, error and the reconciler alike.
"""

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from submissions.models import Submission
from submissions.services.standings import (
    standing_refresh,
    standings_rebuild,
    standings_relist,
)
from workshops.models import Assignment, Enrollment

# Saves that touch only other fields (a heartbeat, a send count) change nothing.
STANDING_FIELDS = frozenset(
    {
        "status",
        "status_reason",
        "current_grade",
        "current_grade_id",
        "created_at",
        "participant",
        "assignment",
    }
)


@receiver(post_save, sender=Submission)
def submission_saved(sender, instance: Submission, raw: bool, update_fields, **kw):
    if raw or (update_fields is not None and not STANDING_FIELDS & set(update_fields)):
        return
    standing_refresh(
        participant_id=instance.participant_id, assignment_id=instance.assignment_id
    )


@receiver(post_delete, sender=Submission)
def submission_deleted(sender, instance: Submission, **kw):
    standing_refresh(
        participant_id=instance.participant_id, assignment_id=instance.assignment_id
    )


@receiver(post_save, sender=Enrollment)
def enrollment_saved(sender, instance: Enrollment, raw: bool, **kw):
    # Enrollments are deactivated, never deleted, except with their user.
    if not raw:
        standings_relist(
            participant_id=instance.user_id, workshop_id=instance.workshop_id
        )


@receiver(pre_save, sender=Assignment)
def assignment_saving(sender, instance: Assignment, raw: bool, **kw):
    if instance.pk and not raw:
        before = (
            Assignment.objects.filter(pk=instance.pk)
            .values_list("score_policy", flat=True)
            .first()
        )
        instance._score_policy_changed = before not in (None, instance.score_policy)


@receiver(post_save, sender=Assignment)
def assignment_saved(sender, instance: Assignment, **kw):
    if getattr(instance, "_score_policy_changed", False):
        instance._score_policy_changed = False
        standings_rebuild(assignments=[instance])
