"""Refresh standings when an enrollment, a score policy or a final limit changes.

These are rare, instructor-side writes. A submission's standing is not kept
here: `submission_move` and the intake refresh it by explicit call (see
docs/architecture.md, "Standings").
"""

from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from submissions.services.standings import standings_rebuild, standings_relist
from workshops.models import Assignment, Enrollment


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
            .values_list("score_policy", "final_limit")
            .first()
        )
        now = (instance.score_policy, instance.final_limit)
        instance._score_policy_changed = before not in (None, now)


@receiver(post_save, sender=Assignment)
def assignment_saved(sender, instance: Assignment, **kw):
    if getattr(instance, "_score_policy_changed", False):
        instance._score_policy_changed = False
        standings_rebuild(assignments=[instance])
