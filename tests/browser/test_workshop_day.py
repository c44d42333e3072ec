"""A workshop day in a real browser, against a live server and a real worker."""

from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
CNN_SOLUTION = (ROOT / "assignments" / "dl101" / "cnn" / "solution.py").read_text()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
]

LONG = 240_000


def _notebook(tmp_path: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(CNN_SOLUTION)]
    path = tmp_path / "cnn.ipynb"
    path.write_text(nbformat.writes(notebook))
    return path


def test_participant_submits_and_instructor_regrades(
    live_server, celery_worker, workshop, instructor, browser, shoot, tmp_path
):
    """A participant joins, submits the CNN notebook, watches it graded; an
    instructor regrades the assignment and watches the bar reach 100%."""
    url = live_server.url
    # --- Participant: sign up with the join code --------------------------------
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{url}/join/{workshop.join_code}/")
    page.get_by_role("link", name="Create an account and join").click()
    page.locator("#id_username").fill("lin")
    page.locator("#id_password1").fill("a-long-pass-9876")
    page.locator("#id_password2").fill("a-long-pass-9876")
    expect(page.locator("#id_join_code")).to_have_value(workshop.join_code)
    shoot(page, "01-signup")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Deep Learning 101")).to_be_visible()
    expect(page.get_by_text("Neurons, layers and gradient descent")).to_be_visible()
    shoot(page, "02-workshop")

    # --- Assignment page: upload the notebook ----------------------------------
    page.get_by_role("link", name="A convolutional network", exact=True).click()
    expect(page.get_by_role("link", name="Starter notebook")).to_be_visible()
    expect(page.locator("#left-today")).to_have_text("20")
    shoot(page, "03-assignment")
    page.get_by_label("Your training code").set_input_files(str(_notebook(tmp_path)))
    page.get_by_role("button", name="Upload and submit").click()

    # --- Submission page: the log grows live, then the grade appears -----------
    expect(page.get_by_role("heading", name="Submission #")).to_be_visible()
    expect(page.locator("#live[data-live-url]")).to_have_count(1)
    expect(page.locator("#log")).to_contain_text("Epoch", timeout=LONG)
    shoot(page, "04-submission-running")
    expect(page.locator("#score")).to_be_visible(timeout=LONG)
    expect(page.locator("#status-badge")).to_have_text("Graded")
    expect(page.locator(".timeline .step.done")).to_have_count(5)
    expect(page.locator("svg.chart")).to_have_count(2)  # confusion + curves
    shoot(page, "05-submission-graded")

    # Same page on a phone.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, storage_state=context.storage_state()
    )
    phone_page = phone.new_page()
    phone_page.goto(page.url)
    expect(phone_page.locator("#score")).to_be_visible()
    shoot(phone_page, "06-submission-phone")
    phone.close()

    page.get_by_role("link", name="A convolutional network").first.click()
    page.get_by_role("link", name="Leaderboard").first.click()
    expect(page.locator("table.board")).to_contain_text("lin (you)")
    shoot(page, "07-leaderboard")
    context.close()

    # --- Instructor: dashboard, statistics, batch regrade ----------------------
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{url}/accounts/login/")
    page.locator("#id_username").fill(instructor.username)
    page.locator("#id_password").fill("ines-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Dashboard").first.click()
    expect(page.locator("table.matrix")).to_contain_text("lin")
    expect(page.locator("table.matrix td.cell.passed")).to_have_count(1)
    shoot(page, "08-dashboard")
    page.locator("table.matrix").get_by_role(
        "link", name="A convolutional network"
    ).click()
    expect(page.locator("svg.chart")).to_have_count(1)
    shoot(page, "09-assignment-stats")
    page.get_by_role("link", name="Regrade…").click()
    page.get_by_label("All finished submissions").check()
    page.get_by_label("Re-evaluate stored models").check()
    page.get_by_label("I understand").check()
    shoot(page, "10-regrade-form")
    page.get_by_role("button", name="Start regrade").click()
    expect(page.locator("[data-percent]")).to_have_text("100%", timeout=LONG)
    expect(page.locator("[data-state]")).to_have_text("done", timeout=60_000)
    shoot(page, "11-regrade-done")

    page.goto(f"{url}/w/{workshop.slug}/manage/")
    expect(page.locator("#join-code")).to_have_text(workshop.join_code)
    shoot(page, "12-manage")
    page.goto(f"{url}/w/{workshop.slug}/hosts/")
    shoot(page, "13-hosts")
    context.close()
