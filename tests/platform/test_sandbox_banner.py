"""Instructors see, on every page, that the sandbox is off; participants do not."""

import pytest
from django.urls import reverse

BANNER = "Sandbox off:"


@pytest.mark.parametrize("backend", ["local", "bwrap"])
def test_banner_shows_for_instructors_only_while_local_backend(
    client, settings, workshop, instructor, participant, backend
):
    settings.DOJO_SANDBOX_BACKEND = backend
    pages = [reverse("home"), reverse("workshop-detail", args=[workshop.slug])]
    for user, expected in ((instructor, backend == "local"), (participant, False)):
        client.force_login(user)
        for url in pages:
            assert (BANNER in client.get(url).content.decode()) is expected, url
