"""Queue again the check runs a stopped worker was running (bin/dojo-run)."""

from django.core.management.base import BaseCommand, CommandParser

from checks.services import checks_hand_back


class Command(BaseCommand):
    help = "Queue again the running check runs of a worker that was stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--worker", required=True, help="the worker's node name")

    def handle(self, *args: object, worker: str, **options: object) -> None:
        handed = checks_hand_back(worker=worker)
        self.stdout.write(f"Handed back {handed} running check run(s) of {worker}.")
