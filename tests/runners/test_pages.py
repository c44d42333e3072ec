"""The hosts page lists runner hosts, makes a join command once, and revokes."""

import re

import pytest
from django.test import Client

from runners.models import Host, JoinToken
from tests.runners.conftest import join

pytestmark = pytest.mark.django_db


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_instructor_gets_a_join_command_for_their_workshop(instructor, workshop):
    page = _as(instructor).post(
        f"/w/{workshop.slug}/hosts/join/", {"queues": ["train-cpu"]}
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert "bin/dojo-runner --site http://testserver --join dojoj_" in text
    token = JoinToken.objects.get()
    assert token.workshop == workshop and token.queues == ["train-cpu"]
    assert "--gpu" not in text


def test_a_join_command_for_gpu_jobs_names_the_card(instructor, workshop):
    """A host without a GPU takes no train-gpu job: the command asks for one."""
    page = _as(instructor).post(
        f"/w/{workshop.slug}/hosts/join/", {"queues": ["train-gpu"]}
    )
    command = re.search(r'<code id="join-command">(.*?)</code>', page.content.decode())
    assert command.group(1).endswith(" --gpu 0"), command.group(1)


def test_a_join_command_for_a_queue_runners_may_not_serve_is_refused(
    instructor, workshop
):
    page = _as(instructor).post(
        f"/w/{workshop.slug}/hosts/join/", {"queues": ["evaluate"]}, follow=True
    )
    assert "No join token was made: queues:" in page.content.decode()
    assert not JoinToken.objects.exists()


def test_participants_cannot_make_join_commands(participant, workshop):
    page = _as(participant).post(
        f"/w/{workshop.slug}/hosts/join/", {"queues": ["train-cpu"]}
    )
    assert page.status_code == 403


def test_the_hosts_page_lists_runners_and_revokes_only_its_own(instructor, workshop):
    join(instructor=instructor, name="site-wide")  # staff-scope host (no workshop)
    client = _as(instructor)
    page = client.get(f"/w/{workshop.slug}/hosts/").content.decode()
    assert "site-wide" in page and "Make a join command" in page
    shared = Host.objects.get()
    refused = client.post(f"/w/{workshop.slug}/hosts/{shared.pk}/revoke/")
    assert refused.status_code == 403
    Host.objects.filter(pk=shared.pk).update(workshop=workshop)
    client.post(f"/w/{workshop.slug}/hosts/{shared.pk}/revoke/")
    assert Host.objects.get().revoked_at is not None


def test_the_hosts_page_says_which_runners_keep_warm_spares(instructor, workshop):
    """What a runner reported on register; anything but a true `enabled` is
    not shown as spares (what a host says of itself is hostile)."""
    from runners.hosts import join_token_create
    from tests.runners.conftest import RunnerClient

    for name, spares in (("warm-host", {"enabled": True}), ("odd", {"enabled": 1})):
        _, secret = join_token_create(
            created_by=instructor, workshop=workshop, queues=["train-cpu"]
        )
        answer = RunnerClient().post(
            "/runner/v1/register",
            {"token": secret, "name": name, "facts": {"spares": spares}},
        )
        assert answer.status_code == 201, answer.content
        page = _as(instructor).get(f"/w/{workshop.slug}/hosts/").content.decode()
        row = re.search(rf"<tr><td>{name}.*?</tr>", page, re.S).group(0)
        assert ("warm spares" in row) is (spares["enabled"] is True), row
