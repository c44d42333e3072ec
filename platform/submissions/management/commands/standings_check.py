"""Recompute standings and tallies from the submissions and compare (or repair)."""

from django.core.management.base import BaseCommand, CommandError

from submissions.services.standings import standings_check, standings_rebuild
from workshops.models import Assignment


class Command(BaseCommand):
    help = (
        "Recompute every standing and tally from the submissions and report each "
        "difference from the stored rows; exit 1 when any differs. With --rebuild, "
        "replace the stored rows instead (after a migration, or to repair)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--workshop", help="Only this workshop (its slug).")
        parser.add_argument(
            "--rebuild", action="store_true", help="Replace instead of comparing."
        )

    def handle(self, *args, workshop: str | None, rebuild: bool, **options) -> None:
        assignments = Assignment.objects.select_related("workshop").order_by("pk")
        if workshop:
            assignments = assignments.filter(workshop__slug=workshop)
            if not assignments.exists():
                raise CommandError(f"No workshop “{workshop}” with assignments.")
        if rebuild:
            made = standings_rebuild(assignments=assignments)
            self.stdout.write(f"Rebuilt {made} standings.")
            return
        differences = 0
        for line in standings_check(assignments=assignments):
            differences += 1
            self.stdout.write(line)
        if differences:
            raise CommandError(f"{differences} differences from a recomputation.")
        self.stdout.write(f"Standings match for {assignments.count()} assignments.")
