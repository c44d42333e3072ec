"""Theory notes: linked from the agenda and the assignments, with real figures."""

import json
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from workshops.notes import notes_dir

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_data_root(settings, tmp_path):
    """Give each test its own workshop folders; reuse the shared built data."""
    shared_cache = Path(settings.DOJO_DATA_ROOT) / "cache"
    shared_cache.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "data"
    root.mkdir()
    (root / "cache").symlink_to(shared_cache.resolve())
    settings.DOJO_DATA_ROOT = root


@pytest.fixture
def browser(participant) -> Client:
    client = Client()
    client.force_login(participant)
    return client


def _note(client: Client, workshop, slug: str) -> str:
    response = client.get(reverse("workshop-note", args=[workshop.slug, slug]))
    assert response.status_code == 200
    return response.content.decode()


def _figure(page: str, name: str) -> str:
    start = page.index(f'id="figure-{name}"')
    return page[start : page.index("</figure>", start)]


def test_agenda_links_each_theory_block_to_its_notes(workshop, browser) -> None:
    """Every theory block of the agenda links to a notes page that opens."""
    page = browser.get(workshop.get_absolute_url()).content.decode()
    links = re.findall(rf'href="/w/{workshop.slug}/notes/([a-z-]+)/"', page)
    assert links == ["neurons", "convolutions", "transfer", "use-cases"]
    assert page.index("Assignment 0: hello Keras") < page.index("Neurons, layers")
    for slug in links:
        assert "<h1>" in _note(browser, workshop, slug)


def test_figures_come_from_the_workshops_own_runs(workshop, browser) -> None:
    """The figures were computed at load: real curves, filters, maps and PCA."""
    figures = json.loads((notes_dir(workshop.pk) / "figures.json").read_text())
    loss = figures["loss-curve"]["loss"]
    assert len(loss) >= 3 and loss[-1] < loss[0]  # the MLP really learned
    runs = figures["learning-rates"]["loss"]
    small, right = runs["0.0005"], runs["0.05"]
    assert right[-1] < small[-1]  # too small a rate barely moves
    assert len(figures["conv-filters"]["filters"]) == 16
    assert len(figures["feature-maps"]["images"]) == 10
    assert len(set(figures["pca-features"]["labels"])) == 5

    neurons = _note(browser, workshop, "neurons")
    assert neurons.count("<svg") == 3
    for name in ("sigmoid", "tanh", "ReLU", "softmax", "lr 0.05", "val_loss"):
        assert f">{name}</text>" in neurons
    activations = _figure(neurons, "activations")
    # -4..4 and a y axis that fits sigmoid and tanh; ReLU leaves the top, clipped.
    assert ">-4</text>" in activations and ">4</text>" in activations
    assert ">5</text>" not in activations
    assert ">-1.00</text>" in activations and ">2.00</text>" in activations
    assert 'clip-path="url(#plot-' in activations
    convolutions = _note(browser, workshop, "convolutions")
    assert convolutions.count('alt="filter ') == 16
    assert 'class="image-row filter-strip"' in _figure(convolutions, "conv-filters")
    assert "Ankle boot, feature map" in convolutions
    transfer = _note(browser, workshop, "transfer")
    assert ">base features</text>" in transfer and ">Sneaker</text>" in transfer
    assert transfer.count("<circle") >= 5 * 20


def test_assignment_links_the_notes_of_the_block_before_it(workshop, browser) -> None:
    """The MLP's page links "Neurons, layers and gradient descent"."""
    url = reverse("assignment-detail", args=[workshop.slug, "mlp"])
    page = browser.get(url).content.decode()
    assert f'href="/w/{workshop.slug}/notes/neurons/"' in page
    hello = browser.get(reverse("assignment-detail", args=[workshop.slug, "hello"]))
    assert "/notes/" not in hello.content.decode()


def test_unknown_notes_are_a_404(workshop, browser) -> None:
    """A notes page the workshop does not have is a clear 404, not a 500."""
    response = browser.get(reverse("workshop-note", args=[workshop.slug, "rnn"]))
    assert response.status_code == 404


def test_damaged_figures_are_not_drawn(workshop, browser) -> None:
    """Figures that are not what the chart code expects are left out, no 500."""
    path = notes_dir(workshop.pk) / "figures.json"
    path.write_text(
        json.dumps(
            {
                "activations": {"x": "<script>", "series": {"<b>": [1, "x"]}},
                "conv-filters": {"size": [3, 3], "filters": [[999] * 9]},
                "pca-features": {"labels": [0, 1], "raw": [[0, 1]], "base": []},
            }
        )
    )
    for slug in ("neurons", "convolutions", "transfer"):
        page = _note(browser, workshop, slug)
        assert "This figure is not available" in page
        assert "<script>" not in page and "<b>" not in page


def test_editing_the_agenda_keeps_notes_links_of_unchanged_blocks(workshop) -> None:
    """An instructor moving a block's times keeps its notes; a renamed one drops."""
    from workshops.services import workshop_update

    edited = [
        {k: item[k] for k in ("start", "end", "kind", "title")}
        for item in workshop.agenda
    ]
    edited[1]["start"] = "09:20"
    edited[3]["title"] = "Convolutions (short)"
    workshop_update(
        workshop=workshop,
        title=workshop.title,
        description="",
        agenda=edited,
    )
    workshop.refresh_from_db()
    assert workshop.agenda[1]["notes"] == "neurons"
    assert workshop.agenda[1]["start"] == "09:20"
    assert "notes" not in workshop.agenda[3]
    assert workshop.agenda[0]["assignment"] == "hello"


def test_activations_built_on_a_wider_range_are_drawn_on_minus_4_to_4(
    workshop, browser
) -> None:
    """Figures computed before on [-5, 5] show only [-4, 4], with the same curves."""
    x = [v / 2 for v in range(-10, 11)]
    path = notes_dir(workshop.pk) / "figures.json"
    path.write_text(
        json.dumps(
            {"activations": {"x": x, "series": {"ReLU": [max(v, 0) for v in x]}}}
        )
    )
    drawn = _figure(_note(browser, workshop, "neurons"), "activations")
    assert ">-4</text>" in drawn and ">4</text>" in drawn and ">5</text>" not in drawn
    [points] = re.findall(r'<polyline points="([^"]+)"', drawn)
    assert len(points.split()) == 17  # -4, -3.5, ..., 4
