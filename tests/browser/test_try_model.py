"""The grade page in a real browser: where the model goes wrong, and try it."""

import pytest
from playwright.sync_api import expect

from tests.model_builders import graded_reference

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]


def test_participant_sees_mistakes_and_tries_the_model_by_drawing(
    live_server, celery_worker, workshop, participant, browser, shoot, settings
):
    """The graded page shows misclassified images with class names; a stroke
    drawn with the mouse gets the model's top three classes."""
    settings.DOJO_PREDICT_TIMEOUT_SECONDS = 150  # this worker's predictor starts cold
    submission = graded_reference(participant, workshop)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("#id_username").fill(participant.username)
    page.locator("#id_password").fill("ada-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/s/{submission.pk}/")
    expect(page.locator("#status-badge")).to_have_text("Graded")

    # Where the model goes wrong: public images with true and predicted names.
    gallery = page.locator("#misclassified li")
    expect(gallery.first).to_be_visible()
    assert 1 <= gallery.count() <= 16
    names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
             "Shirt", "Sneaker", "Bag", "Ankle boot"}  # fmt: skip
    assert gallery.first.locator(".truth").inner_text() in names
    expect(page.locator("#per-class")).to_contain_text("Ankle boot")
    expect(page.locator("svg.chart").first).to_contain_text("Sneaker")
    page.locator("#misclassified").scroll_into_view_if_needed()
    shoot(page, "20-misclassified-gallery")

    # Try your model: draw a stroke with the mouse.
    canvas = page.locator("#draw")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 90, box["y"] + 40)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(box["x"] + 90 + step * 5, box["y"] + 40 + step * 10)
    page.mouse.up()
    top3 = page.locator("#top3 li")
    expect(top3).to_have_count(3, timeout=120_000)
    assert top3.first.locator(".label").inner_text() in names
    shoot(page, "21-try-model-drawn")

    # Or a test image from the public split.
    page.locator("#samples .sample").nth(7).click()
    expect(page.locator("#asking")).to_have_count(0)
    expect(top3).to_have_count(3)
    expect(page.locator("#prediction")).to_contain_text("%")
    shoot(page, "22-try-model-sample")
    context.close()


def test_what_a_text_model_sees_is_shown_as_text(
    live_server, workshop, participant, browser
):
    """The text page's "What my model sees" (typed, or a public definition by
    number) draws the answer's words as a table and a list, never as markup.

    The predictor's answer is the site's (proven in tests/e2e and
    tests/submissions); here the browser's requests are answered by hand.
    """
    import json

    import numpy as np

    from tests.model_builders import graded_with_model
    from workshops import folders
    from workshops.samples import DEFINITIONS_FILE

    assignment = workshop.assignments.get(slug="mlp")
    spec = assignment.spec
    spec["checks"] = {**spec["checks"], "input_kind": "tokens", "input_shape": [32]}
    spec["dataset"] = {**spec["dataset"], "sequence_length": 32}
    assignment.spec = spec
    assignment.save()
    train = folders.assignment_train_dir(assignment.pk)
    train.mkdir(parents=True, exist_ok=True)
    (train / "vocab.txt").write_text("<pad>\n<unk>\na\ndog\ntree\n")
    materials = folders.assignment_materials_dir(assignment.pk)
    materials.mkdir(parents=True, exist_ok=True)
    np.save(materials / DEFINITIONS_FILE, np.zeros((4, 32), dtype=np.int32))
    submission = graded_with_model(participant, assignment)
    hostile = '<img id="injected" src="x">'
    explained = {
        "label": "Dress",
        "probability": 0.5,
        "read": f"a dog {hostile}",
        "words": [{"word": "dog", "weight": 0.25}, {"word": hostile, "weight": -0.5}],
        "neighbours": [{"word": "dog", "near": [{"word": "tree", "cosine": 0.75}]}],
    }
    asked = []

    def answer(route):
        request = route.request
        if request.method == "POST":
            asked.append(json.loads(request.post_data))
            poll = f"/s/{submission.pk}/predict/?id=abc"
            body = {"id": "abc", "status": "pending", "poll": poll}
            return route.fulfill(status=202, json=body)
        return route.fulfill(json={"status": "done", "explained": explained})

    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{live_server.url}/accounts/login/")
        page.locator("#id_username").fill(participant.username)
        page.locator("#id_password").fill("ada-pass-123")
        page.get_by_role("button", name="Log in").click()
        page.route(f"**/s/{submission.pk}/predict/**", answer)
        page.goto(f"{live_server.url}/s/{submission.pk}/")
        page.locator("#try-text").fill("a dog")
        page.locator("#try-explain").click()
        rows = page.locator("#explained-words tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.first).to_contain_text("dog")
        expect(rows.first).to_contain_text("-25.0 points")
        expect(rows.nth(1)).to_contain_text(hostile)
        expect(page.locator("#explained-neighbours li")).to_have_text(
            ["dog: tree (0.75)"]
        )
        expect(page.locator("#injected")).to_have_count(0)
        page.locator("#try-public").fill("3")
        page.locator("#try-public-form button").click()
        expect(page.locator("#explained-words tbody tr")).to_have_count(2)
        assert asked == [
            {"text": "a dog", "explain": True},
            {"public_index": "3", "explain": True},
        ]
        context.close()
    finally:
        (materials / DEFINITIONS_FILE).unlink(missing_ok=True)
