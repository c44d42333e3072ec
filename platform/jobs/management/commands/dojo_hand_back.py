"""Requeue the jobs of every kind a stopped worker ran (bin/dojo-run calls this)."""

from django.core.management.base import BaseCommand, CommandParser

from jobs.reconcile import jobs_hand_back


class Command(BaseCommand):
    help = "Requeue the running jobs of a worker that was stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--worker", required=True, help="the worker's node name")

    def handle(self, *args: object, worker: str, **options: object) -> None:
        handed = jobs_hand_back(worker=worker)
        self.stdout.write(f"Handed back {handed} running job(s) of {worker}.")
