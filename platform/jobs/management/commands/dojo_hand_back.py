"""Requeue the jobs of every kind a stopped worker ran (bin/dojo-run calls this).

Then sweep the work dirs that no live process owns: a worker killed in its
warm shutdown (bin/dojo-run's grace ran out) could not detach its sized tmpfs
work dirs, and with every worker of this namespace stopped nothing else would
until the next start.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from jobs.reconcile import jobs_hand_back
from workers.sandbox import sweep_orphans


class Command(BaseCommand):
    help = "Requeue the running jobs of a worker that was stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--worker",
            required=True,
            action="append",
            help="a stopped worker's node name (repeat for several)",
        )

    def handle(self, *args: object, worker: list[str], **options: object) -> None:
        for name in worker:
            handed = jobs_hand_back(worker=name)
            self.stdout.write(f"Handed back {handed} running job(s) of {name}.")
        # Every worker of this namespace has stopped: even a claim made seconds
        # ago belongs to a process that is provably gone, or it stays.
        swept = sweep_orphans(settings.DOJO_WORK_ROOT, min_age_seconds=0)
        if swept["work_dirs"] or swept["failed"]:
            self.stdout.write(
                f"Removed {swept['work_dirs']} work dir(s) the stopped workers left"
                + (
                    f"; {swept['failed']} could not be removed."
                    if swept["failed"]
                    else "."
                )
            )
