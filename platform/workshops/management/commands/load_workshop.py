"""Create or update a workshop from a pack folder (assignments/dl101)."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from workshops.services import workshop_load_pack


class Command(BaseCommand):
    help = "Create or update a workshop from a pack folder; safe to run twice."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path, help="Pack folder with manifest.json")
        parser.add_argument("--slug", help="Workshop slug (default: the pack's)")

    def handle(self, *args, path: Path, slug: str | None, **options) -> None:
        try:
            workshop = workshop_load_pack(path=path, slug=slug)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        for assignment in workshop.assignments.all():
            self.stdout.write(
                f"  {assignment.order}. {assignment.slug}: {assignment.title} "
                f"(spec v{assignment.spec_version})"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Workshop “{workshop.title}” ready; join code {workshop.join_code}"
            )
        )
