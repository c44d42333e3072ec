"""Refresh standings when an enrollment, a score policy or a final limit changes.

Renew the boards' tokens when a participant is renamed or deleted (the Django
admin's writes: no service renames anyone), as leaderboards show names.
These are rare, instructor-side writes. A submission's standing is not kept
here: `submission_move` and the intake refresh it by explicit call (see
docs/architecture.md, "Standings").
"""

from django.conf import settings
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from submissions.services.standings import standings_rebuild, standings_relist
from workshops.boards import board_version_bump, board_workshops_of
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


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def user_saving(sender, instance, raw: bool, update_fields=None, **kw):
    # A login saves last_login alone: no name can change, no query.
    if raw or not instance.pk or (update_fields and "username" not in update_fields):
        return
    before = (
        sender.objects.filter(pk=instance.pk).values_list("username", flat=True).first()
    )
    instance._boards_to_renew = (
        board_workshops_of(user_id=instance.pk)
        if before not in (None, instance.username)
        else []
    )


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def user_saved(sender, instance, **kw):
    # After the save, not before it: outside a transaction, on_commit runs at once.
    board_version_bump(workshop_ids=getattr(instance, "_boards_to_renew", []))
    instance._boards_to_renew = []


@receiver(pre_delete, sender=settings.AUTH_USER_MODEL)
def user_deleting(sender, instance, **kw):
    # Their enrollments and standings go with them: note the boards now.
    instance._boards_to_renew = board_workshops_of(user_id=instance.pk)


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def user_deleted(sender, instance, **kw):
    board_version_bump(workshop_ids=getattr(instance, "_boards_to_renew", []))
