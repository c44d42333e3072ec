"""Reads for the hosts page: the runner hosts and what each is running."""

from django.db.models import Q

from runners.hosts import host_gpus
from runners.kinds import KINDS, host_can_train, host_jobs_held
from runners.models import Host
from workshops.models import Workshop


def runner_host_list(*, workshop: Workshop | None) -> list[dict]:
    """Return the runner hosts a page may show, with their open jobs.

    With `workshop` (an instructor's view): the hosts that may train its jobs
    (its own and the site's), and of their jobs only its own.
    """
    rows = Host.objects.all()
    if workshop is not None:
        rows = rows.filter(Q(workshop=workshop) | Q(workshop__isnull=True))
    open_jobs = host_jobs_held().select_related("run", "check_run")
    if workshop is not None:
        open_jobs = open_jobs.filter(
            Q(run__submission__assignment__workshop=workshop)
            | Q(check_run__assignment__workshop=workshop)
        )
    running: dict[int, list[dict]] = {}
    for job in open_jobs.order_by("pk"):
        running.setdefault(job.host_id, []).append(KINDS[job.kind].label(job))
    return [
        {
            "host": host,
            "running": running.get(host.pk, []),
            "may_revoke": workshop is None or host.workshop_id == workshop.pk,
            "can_train": host_can_train(host),
            "gpus": host_gpus(host),
        }
        for host in rows
    ]
