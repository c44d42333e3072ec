"""Set up a laptop demo: the DL101 workshop and two demo logins."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import DEMO_USERS, user_ensure
from workshops.models import Enrollment
from workshops.services import enrollment_add, workshop_load_pack


class Command(BaseCommand):
    help = "Load the Deep Learning 101 workshop and create the demo users."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--demo-users",
            action="store_true",
            help="Create the demo logins even where DOJO_DEMO_USERS is off.",
        )

    def handle(self, *args, **options) -> None:
        if not (settings.DOJO_DEMO_USERS or options["demo_users"]):
            raise CommandError(
                "dojo_setup makes the demo logins instructor / dojo-instructor (a "
                "superuser) and participant / dojo-participant, whose passwords are "
                "published. These settings do not allow them (DOJO_DEMO_USERS is "
                "off, as in production), so nothing was changed. Make real accounts "
                "with `manage.py createsuperuser` and load workshops from the site; "
                "or pass --demo-users if you really want the demo logins here."
            )
        pack = Path(settings.ROOT_DIR) / "assignments" / "dl101"
        workshop = workshop_load_pack(path=pack)
        for role, password in DEMO_USERS.items():
            user = user_ensure(username=role, password=password)
            enrollment_add(workshop=workshop, user=user, role=role)
            if role == Enrollment.Role.INSTRUCTOR and not user.is_staff:
                user.is_staff = user.is_superuser = True
                user.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"Workshop “{workshop.title}” ready (join code {workshop.join_code})."
            )
        )
        for role, password in DEMO_USERS.items():
            self.stdout.write(f"  {role:<12} login: {role} / {password}")
