"""Pages show the device a job reported and flag GPU jobs that ran on the CPU."""

import pytest
from django.urls import reverse

from dashboard import selectors
from submissions.models import Run


def _run(submission, **fields) -> Run:
    return Run.objects.create(
        submission=submission,
        kind="train",
        job_token=submission.job_token,
        host="gpu-box-1",
        worker="gpu@gpu-box-1",
        **fields,
    )


@pytest.fixture
def no_broker(monkeypatch):
    monkeypatch.setattr(
        selectors, "celery_inspect", lambda timeout=1.0: {"workers": [], "error": ""}
    )


def test_submission_page_says_where_it_trained(
    client, participant, instructor, cnn, make_submission
):
    """Participant and instructor read "trained on NVIDIA H200, slot 3"."""
    submission = make_submission(participant, cnn)
    _run(submission, queue="train-gpu", device="NVIDIA H200", on_gpu=True, slot=3)
    for user in (participant, instructor):
        client.force_login(user)
        page = client.get(submission.get_absolute_url()).content.decode()
        assert "trained on NVIDIA H200, slot 3" in page
        assert "ran on the CPU" not in page


def test_gpu_job_that_ran_on_the_cpu_is_flagged_to_the_instructor(
    client, participant, instructor, workshop, cnn, make_submission, no_broker
):
    submission = make_submission(participant, cnn)
    _run(
        submission,
        queue="train-gpu",
        device="CPU",
        on_gpu=False,
        slot=1,
        isolation="cgroup v2: memory; GPU 0 x 8 slots: MPS; uid 65534 for every slot",
    )
    client.force_login(participant)
    page = client.get(submission.get_absolute_url()).content.decode()
    assert "trained on CPU, slot 1" in page
    assert "sent to a GPU, ran on the CPU" not in page
    client.force_login(instructor)
    page = client.get(submission.get_absolute_url()).content.decode()
    assert "sent to a GPU, ran on the CPU" in page
    hosts = client.get(reverse("hosts", args=[workshop.slug]))
    hosts_page = hosts.content.decode()
    assert "1 GPU job trained on the CPU" in hosts_page
    assert "GPU 0 x 8 slots: MPS" in hosts_page


def test_hosts_page_says_a_worker_limits_by_rlimits_only(
    instructor_client, participant, workshop, cnn, make_submission, no_broker
):
    submission = make_submission(participant, cnn)
    _run(
        submission,
        queue="train-cpu",
        isolation="no cgroups: memory by RLIMIT_AS, processes by RLIMIT_NPROC "
        "(shared by every job of the uid)",
    )
    page = instructor_client.get(reverse("hosts", args=[workshop.slug]))
    assert "no cgroups: memory by RLIMIT_AS" in page.content.decode()
