"""Write a workshop, or one of its assignments, as a pack (folder or archive)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workshops.models import Workshop
from workshops.packs import PackExportError, pack_archive_bytes, pack_write


class Command(BaseCommand):
    help = (
        "Export a workshop (or --assignment) in the pack format of assignments/dl101: "
        "a folder, or a .zip / .tar.gz archive when OUT ends so."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workshop", help="the workshop's slug")
        parser.add_argument("out", help="a folder to write into, or a .zip/.tar.gz")
        parser.add_argument("--assignment", help="export only this assignment")

    def handle(self, *args, **options) -> None:
        workshop = Workshop.objects.filter(slug=options["workshop"]).first()
        if workshop is None:
            raise CommandError(f"No workshop is called {options['workshop']!r}.")
        assignment = None
        if options["assignment"]:
            assignment = workshop.assignments.filter(slug=options["assignment"]).first()
            if assignment is None:
                raise CommandError(
                    f"{workshop.slug} has no assignment {options['assignment']!r}."
                )
        out = Path(options["out"])
        try:
            if out.name.endswith((".zip", ".tar.gz")):
                fmt = "zip" if out.name.endswith(".zip") else "tar.gz"
                _, data = pack_archive_bytes(
                    workshop=workshop, assignment=assignment, fmt=fmt
                )
                out.write_bytes(data)
                written = out
            else:
                out.mkdir(parents=True, exist_ok=True)
                written = pack_write(
                    workshop=workshop, folder=out, assignment=assignment
                )
        except PackExportError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Wrote {written}")
