"""`manage.py load_workshop` creates or updates a workshop; twice changes nothing."""

import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from submissions.models import Grade
from workshops import folders
from workshops.models import Assignment, Workshop

PACK = Path(__file__).resolve().parents[2] / "assignments" / "dl101"
pytestmark = pytest.mark.django_db


def _state() -> list[tuple]:
    return list(
        Assignment.objects.order_by("slug").values_list(
            "slug", "spec_version", "spec_sha256", "title", "order"
        )
    )


def test_loading_twice_changes_nothing(capsys):
    call_command("load_workshop", str(PACK))
    first = _state()
    workshop = Workshop.objects.get()
    call_command("load_workshop", str(PACK))
    assert _state() == first
    assert Workshop.objects.get().join_code == workshop.join_code
    assert [a[0] for a in first] == ["cnn", "hello", "mlp", "transfer"]
    assert "join code" in capsys.readouterr().out


def test_a_changed_spec_gets_a_new_version_and_old_grades_keep_theirs(
    tmp_path, participant, workshop
):
    from tests.platform.conftest import graded

    mlp = workshop.assignments.get(slug="mlp")
    old = graded(participant, mlp).current_grade
    assert old.spec_version == 1
    pack = tmp_path / "dl101"
    shutil.copytree(PACK, pack)
    spec_path = pack / "mlp" / "spec.json"
    spec = json.loads(spec_path.read_text())
    spec["score"]["target"] = 0.95
    spec_path.write_text(json.dumps(spec))
    call_command("load_workshop", str(pack))
    mlp.refresh_from_db()
    assert mlp.spec_version == 2
    assert mlp.spec["score"]["target"] == 0.95
    assert Grade.objects.get(pk=old.pk).spec_version == 1
    # Unchanged assignments keep their version.
    assert workshop.assignments.get(slug="cnn").spec_version == 1


def test_a_broken_pack_is_refused_with_its_reason(tmp_path):
    pack = tmp_path / "broken"
    pack.mkdir()
    (pack / "manifest.json").write_text("{not json")
    with pytest.raises(CommandError, match="manifest"):
        call_command("load_workshop", str(pack))
    assert not Workshop.objects.exists()


def test_without_fashion_mnist_the_pack_runs_on_digits_and_says_so(
    tmp_path, monkeypatch
):
    """A host without dataset-fashion-mnist still gets a working workshop."""

    monkeypatch.setenv("DOJO_FASHION_MNIST_DIR", str(tmp_path / "not-installed"))
    call_command("load_workshop", str(PACK), "--slug", "no-fashion")
    for assignment in Workshop.objects.get(slug="no-fashion").assignments.all():
        spec = assignment.spec
        assert spec["dataset"]["source"] == "sklearn-digits"
        assert spec["checks"]["input_shape"] == [8, 8, 1]
        assert "apt-get install dataset-fashion-mnist" in spec["data_notice"]
        train = folders.assignment_train_dir(assignment.pk) / "train.npz"
        assert train.is_file()
    transfer = Assignment.objects.get(workshop__slug="no-fashion", slug="transfer")
    assert transfer.spec["class_names"] == ["5", "6", "7", "8", "9"]
