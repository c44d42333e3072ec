"""The workspace's JSON endpoints and pages: bounds, errors as 4xx, help queue."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from workspace.models import Draft, DraftVersion, HelpRequest

pytestmark = pytest.mark.django_db


@pytest.fixture
def mlp(workshop):
    return workshop.assignments.get(slug="mlp")


def client_for(user) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def url(name, mlp, *extra):
    return reverse(name, args=[mlp.workshop.slug, mlp.slug, *extra])


def post(client, path, body, **kwargs):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, data, content_type="application/json", **kwargs)


def test_assignment_page_embeds_the_editor_with_the_starter(participant, mlp):
    page = client_for(participant).get(mlp.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-workspace="workspace-config"' in html
    assert "workspace.min.js" in html
    config = page.context["workspace"]
    assert config["state"]["text"].startswith("# %% [markdown]")
    assert config["urls"]["check"] == f"/checks/assignment/{mlp.pk}/"


def test_save_and_load(participant, mlp):
    client = client_for(participant)
    saved = post(client, url("draft", mlp), {"text": "x = 1\n", "base": 0})
    assert saved.status_code == 200 and saved.json()["revision"] == 1
    loaded = client.get(url("draft", mlp)).json()
    assert loaded["text"] == "x = 1\n" and loaded["revision"] == 1


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ("{not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "JSON object"),
        ('{"text": ' + "[" * 50 + "]" * 50 + "}", 400, "nested deeper than"),
        ({"text": "a\x00"}, 400, "U+0000"),
        ({"text": "a", "base": "x"}, 400, "whole number"),
        ({"text": "a", "reason": "hack"}, 400, "Unknown save reason"),
        ({"text": None}, 400, "must be text"),
    ],
)
def test_bad_saves_get_a_clear_4xx(participant, mlp, body, status, words):
    response = post(client_for(participant), url("draft", mlp), body)
    assert response.status_code == status
    assert words in response.json()["detail"]


def test_an_oversized_body_is_refused_before_it_is_read(participant, mlp, settings):
    settings.DOJO_UPLOAD_MAX_BYTES = 1000
    response = post(client_for(participant), url("draft", mlp), {"text": "x" * 40000})
    assert response.status_code == 413
    assert "limited to" in response.json()["detail"]
    # Under the body bound but over the draft limit: refused by the service.
    response = post(client_for(participant), url("draft", mlp), {"text": "x" * 5000})
    assert response.status_code == 400
    assert "still in the editor" in response.json()["detail"]


def test_versions_restore_reset_export(participant, mlp, settings):
    settings.DOJO_DRAFT_VERSION_EVERY_SECONDS = 0
    client = client_for(participant)
    post(client, url("draft", mlp), {"text": "# %%\nx = 1\n", "base": 0})
    versions = client.get(url("draft-versions", mlp)).json()["versions"]
    assert [v["number"] for v in versions] == [2, 1]
    one = client.get(url("draft-version", mlp, 1)).json()
    assert one["text"].startswith("# %% [markdown]")
    restored = post(client, url("draft-restore", mlp, 2), {"base": 1}).json()
    assert restored["text"] == "# %%\nx = 1\n"
    reset = post(client, url("draft-reset", mlp), {"base": restored["revision"]})
    assert reset.json()["text"].startswith("# %% [markdown]")
    py = client.get(url("draft-export", mlp, "py"))
    assert py["Content-Disposition"].endswith('mlp-draft.py"')
    notebook = json.loads(client.get(url("draft-export", mlp, "ipynb")).content)
    assert notebook["nbformat"] == 4 and notebook["cells"][0]["cell_type"] == "markdown"
    assert client.get(url("draft-export", mlp, "exe")).status_code == 404
    assert client.get(url("draft-version", mlp, 999)).status_code == 404


def test_import_a_notebook(participant, mlp):
    import nbformat

    notebook = nbformat.writes(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("y = 2")])
    )
    client = client_for(participant)
    response = post(
        client, url("draft-import", mlp), {"name": "mine.ipynb", "content": notebook}
    )
    assert response.status_code == 200
    assert "# %%\ny = 2" in response.json()["text"]
    assert Draft.objects.get().text == response.json()["text"]
    refused = post(
        client, url("draft-import", mlp), {"name": "bad.ipynb", "content": "{oops"}
    )
    assert refused.status_code == 400 and "JSON" in refused.json()["detail"]
    assert Draft.objects.get().text == response.json()["text"]


def test_submit_from_the_draft_links_the_version(participant, mlp, settings):
    client = client_for(participant)
    code = "# %%\nimport keras\nprint('train')\n"
    response = post(client, url("draft-submit", mlp), {"text": code, "base": 0})
    assert response.status_code == 200, response.content
    data = response.json()
    version = DraftVersion.objects.get(submission_id=data["submission_id"])
    assert version.text == code and version.reason == "submit"
    page = client.get(data["submission_url"]).content.decode()
    assert f"#version-{version.number}" in page


def test_submit_refusal_is_a_4xx_and_the_draft_stays(participant, mlp):
    client = client_for(participant)
    response = post(client, url("draft-submit", mlp), {"text": "def (:\n", "base": 0})
    assert response.status_code == 400
    assert "Python cannot read your code" in response.json()["detail"]
    assert Draft.objects.get().text == "def (:\n"


def test_help_request_flow(participant, instructor, mlp):
    me = client_for(participant)
    teacher = client_for(instructor)
    asked = post(me, url("help-request", mlp), {"note": "  my loss is   nan "}).json()
    assert asked["request"]["status"] == "waiting"
    assert asked["request"]["position"] == 1
    queue = teacher.get(reverse("help-queue", args=[mlp.workshop.slug])).json()
    [item] = queue["requests"]
    assert item["participant"] == "ada" and item["note"] == "my loss is nan"
    assert item["workspace_url"].endswith(f"/workspace/{participant.pk}/")
    assert post(teacher, item["take_url"], {}).json()["status"] == "taken"
    mine = me.get(url("help-request", mlp)).json()["request"]
    assert mine["status"] == "taken" and mine["taken_by"] == "ines"
    assert post(teacher, item["done_url"], {}).json()["status"] == "done"
    # The participant is told it was closed, by whom and when, not just reset.
    closed = me.get(url("help-request", mlp)).json()["request"]
    assert closed["status"] == "done" and closed["taken_by"] == "ines"
    assert closed["closed_at"]
    # Asking again opens a new request.
    again = post(me, url("help-request", mlp), {}).json()["request"]
    assert again["status"] == "waiting" and again["id"] != closed["id"]


def test_instructor_replies_with_a_hint_from_the_workspace(
    participant, instructor, mlp
):
    """The read-only workspace offers Take, Done and a hint; the hint reaches
    the participant's help state, takes the request, and survives the close."""
    me = client_for(participant)
    teacher = client_for(instructor)
    post(me, url("help-request", mlp), {"note": "nan loss"})
    page = teacher.get(url("workspace-instructor", mlp, participant.pk))
    html = page.content.decode()
    urls = page.context["help_urls"]
    for action in ("take", "done", "reply"):
        assert urls[action] in html
    sent = post(teacher, urls["reply"], {"text": "  Lower the learning rate.  "})
    assert sent.status_code == 200 and sent.json()["status"] == "taken"
    mine = me.get(url("help-request", mlp)).json()["request"]
    assert mine["reply"] == "Lower the learning rate."
    assert mine["replied_by"] == "ines" and mine["replied_at"]
    assert mine["status"] == "taken" and mine["taken_by"] == "ines"
    post(teacher, urls["done"], {})
    closed = me.get(url("help-request", mlp)).json()["request"]
    assert closed["status"] == "done" and closed["reply"] == "Lower the learning rate."
    # The page the participant opens carries the closed request too.
    config = me.get(mlp.get_absolute_url()).context["workspace"]
    assert config["help"]["status"] == "done"


@pytest.mark.parametrize(
    "text, reason",
    [("   ", "the reply is empty"), ("x" * 1001, "at most 1000 characters")],
)
def test_a_bad_hint_is_refused_with_a_reason(
    participant, instructor, mlp, text, reason
):
    post(client_for(participant), url("help-request", mlp), {})
    request = HelpRequest.objects.get()
    path = reverse("help-reply", args=[mlp.workshop.slug, request.pk])
    refused = post(client_for(instructor), path, {"text": text})
    assert refused.status_code == 400 and reason in refused.json()["detail"]
    request.refresh_from_db()
    assert request.reply == "" and request.status == "waiting"


def test_a_hint_on_a_closed_request_or_from_a_participant_is_refused(
    participant, other_participant, instructor, mlp
):
    me = client_for(participant)
    post(me, url("help-request", mlp), {})
    request = HelpRequest.objects.get()
    path = reverse("help-reply", args=[mlp.workshop.slug, request.pk])
    assert post(client_for(other_participant), path, {"text": "hi"}).status_code == 403
    me.post(url("help-withdraw", mlp))
    refused = post(client_for(instructor), path, {"text": "too late"})
    assert refused.status_code == 400 and "closed" in refused.json()["detail"]
    assert HelpRequest.objects.get().reply == ""


def test_withdraw(participant, mlp):
    me = client_for(participant)
    post(me, url("help-request", mlp), {})
    assert me.post(url("help-withdraw", mlp)).json()["withdrawn"] == 1
    assert HelpRequest.objects.get().status == "withdrawn"


def test_participant_cannot_use_the_help_queue(participant, mlp):
    me = client_for(participant)
    assert me.get(reverse("help-queue", args=[mlp.workshop.slug])).status_code == 403


def test_instructor_sees_a_workspace_read_only(participant, instructor, mlp):
    post(client_for(participant), url("draft", mlp), {"text": "z = 3\n", "base": 0})
    page = client_for(instructor).get(url("workspace-instructor", mlp, participant.pk))
    assert page.status_code == 200
    assert page.context["config"]["state"]["text"] == "z = 3\n"
    assert page.context["config"]["mode"] == "instructor"


def test_dashboard_matrix_links_to_workspaces(participant, instructor, mlp):
    page = client_for(instructor).get(reverse("dashboard", args=[mlp.workshop.slug]))
    html = page.content.decode()
    assert url("workspace-instructor", mlp, participant.pk) in html
    assert 'data-help-queue="help-queue-config"' in html


def test_a_draft_over_the_cell_cap_is_refused_at_save_and_never_converted(
    participant, mlp, settings, monkeypatch
):
    """Jupytext's reader grows with cells times lines, so a save above the cap
    is refused with the reason (the draft stays as it was), and a draft stored
    before the cap is exported as .py, never converted in the request."""
    import jupytext

    settings.DOJO_DRAFT_MAX_CELLS = 50
    client = client_for(participant)
    saved = post(client, url("draft", mlp), {"text": "x = 1\n", "base": 0})
    assert saved.status_code == 200
    many = "# %%\nx = 1\n" * 51
    refused = post(client, url("draft", mlp), {"text": many, "base": 1})
    assert refused.status_code == 400
    assert "52 cells; the limit is 50" in refused.json()["detail"]
    assert "still in the editor" in refused.json()["detail"]
    assert Draft.objects.get().text == "x = 1\n"
    Draft.objects.update(text=many)
    converted = []
    real_reads = jupytext.reads
    monkeypatch.setattr(
        jupytext, "reads", lambda *a, **k: converted.append(1) or real_reads(*a, **k)
    )
    export = client.get(url("draft-export", mlp, "ipynb"))
    assert export.status_code == 400 and b"as .py" in export.content
    assert converted == []
    assert client.get(url("draft-export", mlp, "py")).content.decode() == many


def test_exports_are_converted_once_per_text_and_rate_limited(
    participant, mlp, settings, monkeypatch
):
    """The same text is converted once (then served by its digest), and a
    participant past the exports' rate gets a retryable 429."""
    from workspace import notebooks

    settings.DOJO_DRAFT_EXPORTS_PER_MINUTE = 3
    client = client_for(participant)
    post(client, url("draft", mlp), {"text": "# %%\nx = 1\n", "base": 0})
    converted = []
    real = notebooks.percent_cells
    monkeypatch.setattr(
        notebooks, "percent_cells", lambda text: converted.append(1) or real(text)
    )
    bodies = [client.get(url("draft-export", mlp, "ipynb")) for _ in range(3)]
    assert [b.status_code for b in bodies] == [200, 200, 200]
    assert len(converted) == 1 and len({b.content for b in bodies}) == 1
    refused = client.get(url("draft-export", mlp, "ipynb"))
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1


def test_saves_are_rate_limited_with_a_retryable_answer(participant, mlp, settings):
    settings.DOJO_DRAFT_SAVES_PER_MINUTE = 3
    client = client_for(participant)
    for n in range(3):
        saved = post(client, url("draft", mlp), {"text": f"x = {n}\n"})
        assert saved.status_code == 200
    refused = post(client, url("draft", mlp), {"text": "x = 9\n"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    body = refused.json()
    assert body["retry_after"] >= 1 and "still in the editor" in body["detail"]
    assert Draft.objects.get().text == "x = 2\n"


def test_checking_the_same_text_again_keeps_no_new_version(participant, mlp):
    client = client_for(participant)
    body = {"text": "x = 1\n", "reason": "check"}
    first = post(client, url("draft", mlp), body).json()
    again = post(client, url("draft", mlp), body).json()
    assert first["version"] is not None and again["version"] is None
    assert DraftVersion.objects.filter(text="x = 1\n").count() == 1


def test_history_keeps_a_bounded_number_of_characters(participant, mlp, settings):
    """Checks of changed 1,000-character texts keep at most the characters'
    cap in versions; the newest stays."""
    settings.DOJO_DRAFT_HISTORY_MAX_CHARS = 5_000
    client = client_for(participant)
    for n in range(12):
        text = f"# {n}\n" + "x" * 1_000 + "\n"
        saved = post(client, url("draft", mlp), {"text": text, "reason": "check"})
        assert saved.status_code == 200
    texts = list(DraftVersion.objects.values_list("text", flat=True))
    assert sum(len(t) for t in texts) <= 5_000
    assert texts[0].startswith("# 11\n")


def test_history_labels_say_each_fact_once_in_24_hour_time(participant, mlp, settings):
    """The history reads "Starter" and "Submitted as #N", with 24-hour times."""
    settings.TIME_ZONE = "Europe/Paris"
    client = client_for(participant)
    code = "# %%\nimport keras\nprint('train')\n"
    submitted = post(client, url("draft-submit", mlp), {"text": code, "base": 0})
    number = submitted.json()["submission_id"]
    DraftVersion.objects.update(created_at="2026-03-02T13:05:00+00:00")
    versions = client.get(url("draft-versions", mlp)).json()["versions"]
    labels = [v["label"] for v in versions]
    assert labels[-1] == "Starter"
    assert f"Submitted as #{number}" in labels
    assert not [label for label in labels if "ubmission" in label]
    assert {v["time"] for v in versions} == {"14:05"}
