"""The assignment page and its upload form, the submission page and its feed."""

import json

import nbformat
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from submissions.models import Status, Submission
from web.markdown import render_markdown

pytestmark = pytest.mark.django_db


def test_assignment_page(participant_client, participant, cnn, make_graded):
    make_graded(participant, cnn, score=64.25)
    page = participant_client.get(cnn.get_absolute_url()).content.decode()
    assert "<h1>" in page and "Conv2D" in page  # instructions rendered from Markdown
    assert "19</strong> of 20 submissions left today" in page
    assert "64.2" in page or "64.3" in page
    assert 'for="id_file"' in page and 'aria-describedby="id_file_helptext' in page
    assert "/download/starter/" in page and "/download/train/" in page
    assert "/download/base/" not in page  # only the transfer assignment has a base


def test_markdown_is_sanitized():
    html = render_markdown(
        "# T\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))"
    )
    assert "<script" not in html and "javascript:" not in html
    assert "<h1>T</h1>" in html


def test_upload_a_script(participant_client, cnn):
    upload = SimpleUploadedFile("train.py", b"print('hi')\n")
    response = participant_client.post(cnn.get_absolute_url(), {"file": upload})
    submission = Submission.objects.get()
    assert response.status_code == 302
    assert response.url == submission.get_absolute_url()
    assert submission.format == "py"


def test_upload_a_notebook(participant_client, cnn):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("print('hi')")]
    upload = SimpleUploadedFile("cnn.ipynb", nbformat.writes(notebook).encode())
    response = participant_client.post(cnn.get_absolute_url(), {"file": upload})
    assert response.status_code == 302
    assert Submission.objects.get().format == "ipynb"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("model.h5", b"x", "neither a Python script"),
        ("train.py", b"def broken(:\n", "Python cannot read your code"),
        ("train.py", b"   \n", "The file is empty"),
        ("train.ipynb", b"{not json", ""),
    ],
)
def test_bad_uploads_are_refused_next_to_the_field(
    participant_client, cnn, name, content, message
):
    response = participant_client.post(
        cnn.get_absolute_url(), {"file": SimpleUploadedFile(name, content)}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="error" id="id_file_error"' in page
    assert message in page
    assert not Submission.objects.exists()


def test_missing_file_and_closed_assignment(participant_client, cnn):
    response = participant_client.post(cnn.get_absolute_url(), {})
    assert "Choose a .py or .ipynb file" in response.content.decode()
    cnn.closed = True
    cnn.save()
    upload = SimpleUploadedFile("train.py", b"print(1)\n")
    response = participant_client.post(cnn.get_absolute_url(), {"file": upload})
    assert "This assignment is closed" in response.content.decode()
    assert not Submission.objects.exists()


def test_daily_limit_is_enforced(participant_client, participant, cnn, make_submission):
    cnn.daily_limit = 1
    cnn.save()
    make_submission(participant, cnn)
    page = participant_client.get(cnn.get_absolute_url()).content.decode()
    assert "0</strong> of 1 submissions left today" in page
    upload = SimpleUploadedFile("train.py", b"print(1)\n")
    response = participant_client.post(cnn.get_absolute_url(), {"file": upload})
    assert "You have used all 1 submissions for today" in response.content.decode()
    assert Submission.objects.count() == 1


def test_graded_submission_page_shows_feedback_as_pictures(
    participant_client, participant, cnn, make_graded
):
    submission = make_graded(participant, cnn, score=72.0, public=0.91, private=0.77)
    page = participant_client.get(submission.get_absolute_url()).content.decode()
    assert "72.0" in page and "91.0%" in page
    assert "77.0%" not in page  # private accuracy stays hidden until revealed
    assert "Add keras.layers.Dropout" not in page  # that check passed
    assert page.count("<svg") == 2  # confusion matrix and training curves
    assert "Conv2D" in page and "1234" in page
    assert "data-live-url" not in page  # final: no polling
    cnn.reveal_private = True
    cnn.save()
    page = participant_client.get(submission.get_absolute_url()).content.decode()
    assert "77.0%" in page


def test_failed_check_is_shown(participant_client, participant, cnn, make_graded):
    submission = make_graded(participant, cnn, passed=False, history=False)
    page = participant_client.get(submission.get_absolute_url()).content.decode()
    assert "Add keras.layers.Dropout." in page
    assert page.count("<svg") == 1  # no history: no curves


def test_failed_submission_says_why_and_what_to_do(
    participant_client, participant, cnn, make_failed
):
    submission = make_failed(participant, cnn, reason="Your code stopped: NameError.")
    page = participant_client.get(submission.get_absolute_url()).content.decode()
    assert "Your code stopped: NameError." in page
    assert "What to do:" in page and "fix your code" in page


def test_active_submission_polls_live_and_can_be_cancelled(
    participant_client, participant, cnn, make_submission
):
    submission = make_submission(participant, cnn)
    page = participant_client.get(submission.get_absolute_url()).content.decode()
    assert 'data-live-url="/s/' in page and "Cancel" in page
    live = participant_client.get(reverse("submission-live", args=[submission.pk]))
    data = json.loads(live.content)
    assert data["active"] is True and data["status"] == "received"
    assert "Received" in data["timeline"]
    response = participant_client.post(
        reverse("submission-cancel", args=[submission.pk])
    )
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.status == Status.CANCELLED
    data = json.loads(
        participant_client.get(reverse("submission-live", args=[submission.pk])).content
    )
    assert data["active"] is False


def test_cancel_needs_post(participant_client, participant, cnn, make_submission):
    submission = make_submission(participant, cnn)
    url = reverse("submission-cancel", args=[submission.pk])
    assert participant_client.get(url).status_code == 405


def test_code_view(participant_client, participant, cnn, make_submission):
    script = make_submission(
        participant, cnn, code=b"x = '<script>alert(1)</script>'\n"
    )
    page = participant_client.get(reverse("submission-code", args=[script.pk]))
    assert "<script>alert" not in page.content.decode()
    assert "highlight" in page.content.decode()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Title <img src=x onerror=alert(1)>"),
        nbformat.v4.new_code_cell("print('hi')"),
    ]
    nb = make_submission(
        participant, cnn, name="cnn.ipynb", code=nbformat.writes(notebook).encode()
    )
    page = participant_client.get(reverse("submission-code", args=[nb.pk]))
    html = page.content.decode()
    assert "print" in html and "<img" not in html


def test_other_participants_cannot_see_a_submission(
    client, participant, other_participant, other_instructor, cnn, make_graded
):
    submission = make_graded(participant, cnn)
    urls = [
        submission.get_absolute_url(),
        reverse("submission-live", args=[submission.pk]),
        reverse("submission-code", args=[submission.pk]),
    ]
    for user in (other_participant, other_instructor):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 404, (user, url)
        response = client.post(reverse("submission-cancel", args=[submission.pk]))
        assert response.status_code == 404


def test_instructor_sees_runs_and_grade_history(
    instructor_client, participant, cnn, make_graded
):
    submission = make_graded(participant, cnn, private=0.66)
    page = instructor_client.get(submission.get_absolute_url()).content.decode()
    assert "Grade history" in page and "66.0%" in page and "ada" in page


def test_live_log_sends_only_what_the_page_lacks(
    participant_client, participant, cnn, make_submission
):
    """The page polls with its log's run and length; the answer is the new end."""
    from submissions.models import Run
    from tests.api.api_builders import start_training

    submission = make_submission(participant, cnn)
    run = start_training(submission, log="Epoch 1/3\n")
    url = reverse("submission-live", args=[submission.pk])
    page = participant_client.get(submission.get_absolute_url()).content.decode()
    assert f'data-log-run="{run.pk}" data-log-length="10"' in page
    Run.objects.filter(pk=run.pk).update(log="Epoch 1/3\nEpoch 2/3\n")
    data = json.loads(
        participant_client.get(url, {"run": run.pk, "offset": 10}).content
    )
    assert data["log_append"] == "Epoch 2/3\n" and "log" not in data
    assert (data["log_run"], data["log_length"]) == (run.pk, 20)
    # Another run, a bad offset, or a log whose start was dropped: the whole tail.
    for query in ({"run": run.pk + 1, "offset": 10}, {"run": run.pk, "offset": 99}):
        data = json.loads(participant_client.get(url, query).content)
        assert data["log"] == "Epoch 1/3\nEpoch 2/3\n" and "log_append" not in data
    Run.objects.filter(pk=run.pk).update(log="[... 5 bytes dropped ...]\nEpoch 3/3\n")
    data = json.loads(participant_client.get(url, {"run": run.pk, "offset": 0}).content)
    assert data["log"].endswith("Epoch 3/3\n") and "log_append" not in data


def test_notebook_markdown_is_shown_as_escaped_text_with_a_cap_per_cell(
    participant_client, participant, cnn, make_submission
):
    """The code page never renders Markdown in the request (its cost grows
    with the square of some inputs): cells are escaped text, each capped."""
    from submissions.rendering import MARKDOWN_CELL_CHARS

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Title\n\n**bold** <b>x</b>"),
        nbformat.v4.new_markdown_cell("[" * 30_000 + "a" + "](b)" * 10_000),
        nbformat.v4.new_code_cell("print('hi')"),
    ]
    nb = make_submission(
        participant, cnn, name="bomb.ipynb", code=nbformat.writes(notebook).encode()
    )
    page = participant_client.get(reverse("submission-code", args=[nb.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "# Title" in html and "**bold** &lt;b&gt;x&lt;/b&gt;" in html
    assert "<strong>bold</strong>" not in html and "anchor-link" not in html
    assert f"showing {MARKDOWN_CELL_CHARS:,} of" in html
    assert "print" in html


@pytest.mark.parametrize("fmt", ["py", "ipynb"])
def test_code_page_costs_the_same_for_any_size(
    participant_client, participant, cnn, make_submission, fmt
):
    """A 1 MiB script or notebook is highlighted only up to the page's budget
    (the rest is a download away), so its page is no bigger than a 64 KB one's."""
    line = "accuracy = model.evaluate(x_test, y_test, verbose=0)[1]\n"
    code = line * (1_000_000 // len(line))
    if fmt == "ipynb":
        notebook = nbformat.v4.new_notebook()
        cell = line * 35
        notebook.cells = [nbformat.v4.new_code_cell(cell) for _ in range(400)]
        raw = nbformat.writes(notebook).encode()
    else:
        raw = code.encode()
    big = make_submission(participant, cnn, name=f"big.{fmt}", code=raw)
    small = make_submission(
        participant, cnn, name="small.py", code=code[: 1000 * len(line)].encode()
    )
    page = participant_client.get(reverse("submission-code", args=[big.pk]))
    baseline = participant_client.get(reverse("submission-code", args=[small.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Shortened: showing" in html and "Download" in html
    assert len(page.content) < 1.5 * len(baseline.content)
    download = participant_client.get(
        reverse("submission-code-download", args=[big.pk])
    )
    assert b"".join(download.streaming_content) == raw


def test_code_page_is_rendered_once(
    participant_client, participant, cnn, make_submission, monkeypatch
):
    """A submission's file never changes: its page is highlighted on the first
    visit and read from the cache after, so reloading it costs the site nothing
    that grows with the file."""
    from submissions import rendering

    calls = []
    real = rendering.code_to_html

    def counted(raw, fmt):
        calls.append(len(raw))
        return real(raw, fmt)

    monkeypatch.setattr(rendering, "code_to_html", counted)
    submission = make_submission(participant, cnn, name="train.py", code=b"x = 1\n")
    url = reverse("submission-code", args=[submission.pk])
    first = participant_client.get(url)
    again = participant_client.get(url)
    assert first.status_code == again.status_code == 200
    assert calls == [6]
    shown = [page.content.count(b'class="highlight') for page in (first, again)]
    assert shown[0] == shown[1] > 0


def test_code_pages_past_their_rate_are_refused_for_that_user_only(
    participant_client, participant, other_participant, cnn, make_submission, settings
):
    """A participant opening code pages in a loop is told to wait (429 with
    Retry-After) before the page is built; another participant is not."""
    from django.test import Client

    settings.DOJO_CODE_PAGES_PER_MINUTE = 3
    mine = make_submission(participant, cnn, name="train.py", code=b"x = 1\n")
    theirs = make_submission(other_participant, cnn, name="t.py", code=b"y = 2\n")
    url = reverse("submission-code", args=[mine.pk])
    answers = [participant_client.get(url) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1]["Retry-After"]) >= 1
    assert "Wait" in answers[-1].content.decode()
    other = Client()
    other.force_login(other_participant)
    assert other.get(reverse("submission-code", args=[theirs.pk])).status_code == 200
