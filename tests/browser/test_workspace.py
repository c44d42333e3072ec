"""The workspace in a real browser: typing is saved, survives reload, offline and
a second tab; notebooks go in and out; help requests reach the dashboard live."""

import json

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.browser.axe import axe_violations
from workspace.models import Draft, DraftVersion

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SAVED = "Saved"


def login(browser, live_server, user, password, **context_args):
    context = browser.new_context(**context_args)
    page = context.new_page()
    page.set_default_timeout(20_000)
    # A busy machine (other test runs) can take long to serve a page.
    page.set_default_navigation_timeout(60_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("#id_username").fill(user.username)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="My workshops")).to_be_visible()
    return context, page


def open_editor(page, live_server, assignment):
    page.goto(f"{live_server.url}{assignment.get_absolute_url()}")
    content = page.locator(".cm-content")
    expect(content).to_be_visible()
    return content


def editor_text(page) -> str:
    """Return the whole text (CodeMirror draws only the lines in view)."""
    return page.evaluate(
        "() => document.querySelector('[data-workspace]').editor.getText()"
    )


def has_text(page, text: str) -> None:
    try:
        page.wait_for_function(
            "(t) => document.querySelector('[data-workspace]')?.editor?.getText()"
            ".includes(t)",
            arg=text,
            polling=100,
        )
    except PlaywrightTimeoutError:
        raise AssertionError(
            f"{text!r} never appeared; the editor ends with "
            f"{editor_text(page)[-300:]!r}"
        ) from None


def type_at_end(page, content, text: str) -> None:
    content.click()
    page.keyboard.press("Control+End")
    # Let the editor draw the end of the document before typing: on a loaded
    # machine, keys sent during that redraw landed before the first one.
    page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
    )
    # One input event, as a paste or an input method commits text: keys sent
    # one by one to a page whose main thread is busy (two test processes on two
    # cores) were seen reordered ("\nritten_offline = True\nw"). The keyboard
    # itself is tested key by key in test_keyboard_user_indents_with_tab_....
    page.keyboard.insert_text(text)


def server_text(participant, assignment) -> str:
    draft = Draft.objects.filter(participant=participant, assignment=assignment).first()
    return draft.text if draft else ""


def test_typing_is_saved_and_survives_a_reload(
    live_server, workshop, participant, browser, shoot
):
    """The starter is in the editor as cells; typing reaches the server within
    seconds, the status says so, a reload shows the draft; axe finds nothing
    serious on the page."""
    mlp = workshop.assignments.get(slug="mlp")
    context, page = login(
        browser,
        live_server,
        participant,
        "ada-pass-123",
        viewport={"width": 1280, "height": 900},
    )
    content = open_editor(page, live_server, mlp)
    expect(content).to_contain_text("Assignment 1: a multilayer perceptron")
    expect(page.locator(".cm-cell-marker.cm-cell-code").first).to_be_visible()
    expect(page.locator(".cm-md-line").first).to_be_visible()
    type_at_end(page, content, "\nprint('typed in the browser')\n")
    status = page.locator("[data-save-status]")
    expect(status).to_have_text("Saving…")
    expect(status).to_have_text(SAVED)
    assert "typed in the browser" in server_text(participant, mlp)
    # A syntax error is underlined as you type.
    type_at_end(page, content, "def broken(:\n")
    expect(page.locator(".cm-lint-marker-error").first).to_be_attached()
    expect(status).to_have_text(SAVED)
    shoot(page, "workspace-desktop")
    assert not (found := axe_violations(page)), found
    # Wide screen: the instructions sit beside the editor, both start in view,
    # and the editor takes the window's height.
    instructions = page.locator("#instructions")
    editor = page.locator(".editor-box")
    beside = instructions.bounding_box()
    box = editor.bounding_box()
    assert beside["x"] + beside["width"] <= box["x"], (beside, box)
    assert beside["y"] < 900 and box["y"] < 900
    assert box["height"] >= 900 - 200, box
    expect(page.get_by_role("tab")).to_have_count(0)
    # Collapsible, and remembered: the editor widens, the text stays.
    hide = page.get_by_role("button", name="Hide instructions")
    hide.click()
    show = page.get_by_role("button", name="Show instructions")
    expect(show).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#instructions-body")).to_be_hidden()
    page.wait_for_function(
        "(w) => document.querySelector('.editor-box').getBoundingClientRect().width"
        " > w + 200",
        arg=box["width"],
    )
    page.reload()
    has_text(page, "typed in the browser")
    assert "def broken(:" in editor_text(page)
    expect(page.get_by_role("button", name="Show instructions")).to_be_visible()
    page.get_by_role("button", name="Show instructions").click()
    expect(page.locator("#instructions-body")).to_be_visible()
    context.close()


def test_keyboard_user_indents_with_tab_and_leaves_with_escape_tab(
    live_server, workshop, participant, browser
):
    """Tab indents by four spaces inside the editor and keeps focus there;
    Escape then Tab moves focus to the next control after the editor, even
    right after typing (autocompletion pending), and Escape then Shift+Tab to
    the one before it, so a keyboard-only user is never trapped."""
    mlp = workshop.assignments.get(slug="mlp")
    context, page = login(browser, live_server, participant, "ada-pass-123")
    content = open_editor(page, live_server, mlp)
    # The block's first line and a flush empty line come in through the
    # editor's own API, the cursor at its end: typed, they raced autoindent,
    # autocompletion and the redraw on a loaded machine, and what is under
    # test is the Tab that follows.
    page.evaluate(
        """() => {
          const view = document.querySelector('[data-workspace]').editor.view;
          const end = view.state.doc.length;
          const insert = '\\ndef keyboard_only():\\n';
          view.dispatch({changes: {from: end, insert},
                         selection: {anchor: end + insert.length}});
          view.focus();
          const frame = () => new Promise(r => requestAnimationFrame(r));
          return frame().then(frame);
        }"""
    )
    expect(content).to_be_focused()
    page.keyboard.press("Tab")
    # One input event, as a paste or an input method gives: Playwright types a
    # word as eight keystrokes with no pause, and on a loaded machine a stale
    # selection read between two of them put a letter at the end ("rturn 1e").
    page.keyboard.insert_text("return 1")
    expect(content).to_be_focused()
    has_text(page, "def keyboard_only():\n    return 1")

    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    # The check log is hidden until a check runs, so History comes next.
    expect(page.locator("[data-history] > summary")).to_be_focused()
    assert "\t" not in editor_text(page) and editor_text(page).endswith(
        "    return 1"
    ), "the Tab that left the editor must not also indent"

    content.focus()
    page.keyboard.press("Escape")
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Reset to starter")).to_be_focused()
    # Back in the editor, any other key ends the tab-focus mode, and Tab
    # indents again rather than leaving.
    content.focus()
    page.keyboard.press("End")
    page.keyboard.press("Tab")
    expect(content).to_be_focused()
    has_text(page, "def keyboard_only():\n        return 1")
    context.close()


def test_offline_typing_reaches_the_server_when_back(
    live_server, workshop, participant, browser
):
    mlp = workshop.assignments.get(slug="mlp")
    context, page = login(browser, live_server, participant, "ada-pass-123")
    content = open_editor(page, live_server, mlp)
    context.set_offline(True)
    type_at_end(page, content, "\nwritten_offline = True\n")
    status = page.locator("[data-save-status]")
    expect(status).to_contain_text("Offline: your changes are kept in this browser")
    assert "written_offline" not in server_text(participant, mlp)
    stored = page.evaluate("() => JSON.stringify(localStorage)")
    assert "written_offline" in stored
    context.set_offline(False)
    expect(status).to_have_text(SAVED, timeout=15_000)
    assert "written_offline = True" in server_text(participant, mlp)
    context.close()


def test_two_tabs_keep_both_versions(live_server, workshop, participant, browser):
    """Two tabs edit the same draft: the later save keeps the other's text as a
    version and says so."""
    mlp = workshop.assignments.get(slug="mlp")
    context, first = login(browser, live_server, participant, "ada-pass-123")
    second = context.new_page()
    one = open_editor(first, live_server, mlp)
    two = open_editor(second, live_server, mlp)
    type_at_end(first, one, "\nfrom_tab_one = 1\n")
    expect(first.locator("[data-save-status]")).to_have_text(SAVED)
    type_at_end(second, two, "\nfrom_tab_two = 2\n")
    expect(second.locator("[data-save-status]")).to_have_text(SAVED)
    expect(second.locator("[data-notice]")).to_contain_text("Both texts are kept")
    texts = list(DraftVersion.objects.values_list("text", flat=True))
    assert any("from_tab_one" in t and "from_tab_two" not in t for t in texts)
    current = server_text(participant, mlp)
    assert "from_tab_two = 2" in current and "from_tab_one" not in current
    context.close()


def test_import_a_notebook_and_export_it_back(
    live_server, workshop, participant, browser, tmp_path
):
    mlp = workshop.assignments.get(slug="mlp")
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Mine"),
            nbformat.v4.new_code_cell("imported_cell = 42"),
        ]
    )
    path = tmp_path / "mine.ipynb"
    path.write_text(nbformat.writes(notebook))
    context, page = login(browser, live_server, participant, "ada-pass-123")
    open_editor(page, live_server, mlp)
    page.locator("[data-import]").set_input_files(str(path))
    has_text(page, "imported_cell = 42")
    expect(page.locator("[data-notice]")).to_contain_text("Opened mine.ipynb")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download .ipynb").click()
    back = nbformat.reads(download.value.path().read_text(), as_version=4)
    assert [c.cell_type for c in back.cells] == ["markdown", "code"]
    assert back.cells[1].source == "imported_cell = 42"
    # A notebook with a shell escape is refused and the editor keeps its text.
    bad = tmp_path / "bad.ipynb"
    bad.write_text(
        nbformat.writes(
            nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("!curl evil")])
        )
    )
    page.locator("[data-import]").set_input_files(str(bad))
    expect(page.locator("[data-notice]")).to_contain_text("shell command")
    assert "imported_cell = 42" in editor_text(page)
    context.close()


# A Keras model summary as a check log holds it: 120 columns of box drawing.
SUMMARY = "\n".join(
    [
        'Model: "sequential"',
        "┏" + "━" * 70 + "┳" + "━" * 30 + "┳" + "━" * 16 + "┓",
        "┃ "
        + "Layer (type)".ljust(69)
        + "┃ "
        + "Output Shape".ljust(29)
        + "┃ Param #".ljust(17)
        + "┃",
        "│ "
        + "dense (Dense)".ljust(69)
        + "│ "
        + "(None, 128)".ljust(29)
        + "│ 100,480".ljust(17)
        + "│",
    ]
)


def test_help_request_reaches_the_dashboard_live_and_the_workspace_opens(
    live_server, workshop, participant, instructor, browser, shoot, outbox
):
    """The instructor's open dashboard shows a new help request without a reload;
    they take it, the participant sees so; in the participant's read-only
    workspace (also reached from the matrix) the instructor reads the check
    log as a terminal shows it, sends a hint that appears in the participant's
    workspace, and closes the request, which the participant is told."""
    from checks.models import CheckRun, CheckStatus
    from checks.services import check_run_create

    mlp = workshop.assignments.get(slug="mlp")
    check = check_run_create(participant=participant, assignment=mlp, source="x = 1\n")
    CheckRun.objects.filter(pk=check.pk).update(status=CheckStatus.PASSED, log=SUMMARY)
    teacher_context, teacher = login(
        browser,
        live_server,
        instructor,
        "ines-pass-123",
        viewport={"width": 1280, "height": 900},
    )
    teacher.goto(f"{live_server.url}/w/{workshop.slug}/dashboard/")
    expect(teacher.locator("[data-help-count]")).to_have_text("No one is waiting.")
    context, page = login(browser, live_server, participant, "ada-pass-123")
    content = open_editor(page, live_server, mlp)
    type_at_end(page, content, "\nstuck_here = True\n")
    expect(page.locator("[data-save-status]")).to_have_text(SAVED)
    page.get_by_label("Note for your instructor (optional)").fill("loss is nan")
    page.get_by_role("button", name="Ask for help").click()
    expect(page.locator("[data-help-state]")).to_contain_text("number 1 in the queue")
    item = teacher.locator(".help-item")
    expect(item).to_contain_text("ada", timeout=10_000)
    expect(item).to_contain_text("loss is nan")
    teacher.get_by_role("button", name="Take the request of ada").click()
    expect(item).to_contain_text("taken by ines")
    expect(page.locator("[data-help-state]")).to_contain_text(
        "An instructor is on the way", timeout=15_000
    )
    shoot(teacher, "dashboard-help")
    assert not (found := axe_violations(teacher)), found
    item.get_by_role("link", name="Open workspace").click()
    has_text(teacher, "stuck_here = True")
    # The model summary keeps its columns: no wrapping, a sideways scroll.
    log = teacher.locator("#check-log")
    expect(log).to_contain_text("Output Shape")
    assert log.evaluate("(e) => getComputedStyle(e).whiteSpace") == "pre"
    assert log.evaluate("(e) => e.scrollWidth > e.clientWidth")
    card = teacher.locator("[data-help-card]")
    expect(card).to_contain_text("Taken by ines")
    card.get_by_label("Hint for ada").fill("Lower the learning rate to 1e-3.")
    card.get_by_role("button", name="Send hint").click()
    expect(card).to_contain_text("Your last hint")
    shoot(teacher, "instructor-workspace-desktop")
    assert not (found := axe_violations(teacher)), found
    hint = page.locator("[data-help-reply]")
    expect(hint).to_contain_text("Lower the learning rate to 1e-3.", timeout=15_000)
    expect(hint).to_contain_text("Hint from ines")
    expect(page.locator("[data-notice]")).to_contain_text("ines sent you a hint")
    teacher.go_back()
    teacher.locator("table.matrix td.cell a").first.click()
    expect(teacher.get_by_role("heading", name="Workspace of ada")).to_be_visible()
    teacher.goto(
        f"{live_server.url}/w/{workshop.slug}/a/mlp/workspace/{participant.pk}/"
    )
    teacher.get_by_role("button", name="Done").click()
    expect(teacher.locator("[data-help-card]")).to_contain_text("No open help request")
    expect(page.locator("[data-help-state]")).to_contain_text(
        "ines closed your help request", timeout=15_000
    )
    expect(hint).to_contain_text("Lower the learning rate to 1e-3.")
    expect(page.get_by_role("button", name="Ask for help")).to_be_visible()
    teacher.goto(f"{live_server.url}/w/{workshop.slug}/dashboard/")
    expect(teacher.locator("[data-help-count]")).to_have_text("No one is waiting.")
    context.close()
    teacher_context.close()


def test_phone_sized_workspace(live_server, workshop, participant, browser, shoot):
    """On a phone the editor is usable and the buttons are reachable."""
    mlp = workshop.assignments.get(slug="mlp")
    context, page = login(
        browser,
        live_server,
        participant,
        "ada-pass-123",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    content = open_editor(page, live_server, mlp)
    # A narrow screen: two tabs, the code shown first, the instructions one tap away.
    code_tab = page.get_by_role("tab", name="Code")
    instructions_tab = page.get_by_role("tab", name="Instructions")
    expect(code_tab).to_have_attribute("aria-selected", "true")
    expect(page.locator("#instructions")).to_be_hidden()
    type_at_end(page, content, "\nfrom_a_phone = 1\n")
    instructions_tab.click()
    expect(page.get_by_role("tabpanel", name="Instructions")).to_be_visible()
    expect(page.locator("#instructions")).to_contain_text("multilayer perceptron")
    expect(content).to_be_hidden()
    page.locator("#instructions").screenshot(
        path=str(_shot_dir() / "workspace-phone-instructions.png")
    )
    # The text typed before switching is saved while the editor is hidden.
    expect(page.locator("[data-save-status]")).to_have_text(SAVED)
    assert "from_a_phone = 1" in server_text(participant, mlp)
    instructions_tab.focus()
    page.keyboard.press("ArrowRight")
    expect(code_tab).to_be_focused()
    expect(content).to_be_visible()
    has_text(page, "from_a_phone = 1")
    for name in ("Check", "Submit for grading", "Reset to starter"):
        button = page.get_by_role("button", name=name)
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, name
    width = page.evaluate("() => document.documentElement.scrollWidth")
    wide = page.evaluate(
        "() => [...document.querySelectorAll('body *')]"
        ".filter((e) => e.getBoundingClientRect().right > 391)"
        ".slice(0, 8).map((e) => e.tagName + '.' + e.className)"
    )
    assert width <= 390, f"the page scrolls sideways ({width}px): {wide}"
    page.locator("#workspace").screenshot(path=str(_shot_dir() / "workspace-phone.png"))
    shoot(page, "workspace-phone-full")
    assert not (found := axe_violations(page)), found
    context.close()


def _shot_dir():
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def test_bad_saves_are_shown_and_lose_nothing(
    live_server, workshop, participant, browser, settings
):
    """A draft over the size limit is refused with the reason; the text stays."""
    mlp = workshop.assignments.get(slug="mlp")
    settings.DOJO_UPLOAD_MAX_BYTES = 8000
    context, page = login(browser, live_server, participant, "ada-pass-123")
    open_editor(page, live_server, mlp)
    page.evaluate(
        "() => document.querySelector('[data-workspace]').editor"
        ".setText('x = 1\\n' + '#'.repeat(9000))"
    )
    status = page.locator("[data-save-status]")
    expect(status).to_contain_text("Not saved: Your draft is")
    expect(status).to_contain_text("still in the editor")
    assert json.loads(
        page.evaluate("() => JSON.stringify(Object.values(localStorage))")
    )
    assert editor_text(page).startswith("x = 1\n")
    context.close()


def test_submit_asks_in_the_page_not_in_a_browser_dialog(
    live_server, workshop, participant, browser
):
    """Submit opens an in-page dialog: focus moves into it, Escape or Cancel
    cancels (nothing is submitted, focus returns), Enter confirms."""
    from submissions.models import Submission

    mlp = workshop.assignments.get(slug="mlp")
    context, page = login(browser, live_server, participant, "ada-pass-123")
    native = []
    page.on("dialog", lambda d: (native.append(d.message), d.dismiss()))
    open_editor(page, live_server, mlp)
    submit = page.locator("[data-submit]")
    submit.click()
    dialog = page.get_by_role("dialog", name="Submit this draft for grading?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("20 left today")
    yes = dialog.get_by_role("button", name="Submit for grading")
    expect(yes).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(submit).to_be_focused()
    # Keyboard only: the shortcut opens it, Tab reaches Cancel, Enter cancels.
    page.keyboard.press("Control+Shift+Enter")
    expect(yes).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    assert not Submission.objects.exists()
    page.keyboard.press("Control+Shift+Enter")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Submission #")).to_be_visible()
    assert Submission.objects.count() == 1 and native == []
    context.close()
