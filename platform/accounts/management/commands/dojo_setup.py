"""Set up a laptop demo: the DL101 workshop and two demo logins."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.services import DEMO_USERS, user_ensure
from workshops.models import Enrollment
from workshops.services import enrollment_add, workshop_load_pack


class Command(BaseCommand):
    help = "Load the Deep Learning 101 workshop and create the demo users."

    def handle(self, *args, **options) -> None:
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
