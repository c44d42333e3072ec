"""Create a workshop from a pack archive, checked as hostile input."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from workshops.pack_archive import max_archive_bytes
from workshops.pack_import import pack_import


class Command(BaseCommand):
    help = (
        "Import a pack (.zip or .tar.gz) as a new workshop; nothing in it is run, "
        "and a refused pack stores nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", help="the pack archive (.zip or .tar.gz)")
        parser.add_argument("--slug", required=True, help="the new workshop's slug")
        parser.add_argument("--title", default="", help="its title (the pack's)")
        parser.add_argument("--instructor", help="a username to make its instructor")

    def handle(self, *args, **options) -> None:
        path = Path(options["archive"])
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        if path.stat().st_size > max_archive_bytes():
            raise CommandError(
                f"{path} is larger than {max_archive_bytes():,} bytes "
                "(DOJO_PACK_MAX_BYTES)."
            )
        instructor = None
        if options["instructor"]:
            users = get_user_model().objects
            instructor = users.filter(username=options["instructor"]).first()
            if instructor is None:
                raise CommandError(f"No user is called {options['instructor']!r}.")
        try:
            workshop = pack_import(
                data=path.read_bytes(),
                filename=path.name,
                slug=options["slug"],
                title=options["title"],
                created_by=instructor,
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        count = workshop.assignments.count()
        self.stdout.write(f"Imported {workshop.slug} with {count} assignments.")
