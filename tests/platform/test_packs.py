"""Packs out and in: DL101 round trips; hostile archives are refused, nothing stored."""

import io
import json
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from workshops import folders
from workshops.models import Assignment, Workshop
from workshops.notes import notes_dir
from workshops.pack_import import pack_import
from workshops.packs import pack_archive_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_data_root")]

ASSIGNMENT_FIELDS = (
    "slug",
    "title",
    "kind",
    "order",
    "instructions_md",
    "spec",
    "daily_limit",
    "score_policy",
    "queue",
    "wall_seconds",
    "cpu_seconds",
    "memory_mb",
)


def _files(name: str, data: bytes) -> dict[str, bytes]:
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {i.filename: archive.read(i) for i in archive.infolist()}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}


def _zip(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def _tar(files: dict[str, bytes], special: tarfile.TarInfo | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if special is not None:
            archive.addfile(special)
    return buffer.getvalue()


def _values(assignment: Assignment) -> dict:
    return {name: getattr(assignment, name) for name in ASSIGNMENT_FIELDS}


def _stored() -> tuple:
    root = Path(settings.DOJO_DATA_ROOT) / "assignments"
    kept = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    return Workshop.objects.count(), Assignment.objects.count(), kept


def test_dl101_round_trip_gives_the_same_assignments(workshop, instructor):
    """Export DL101 as a zip, import it as a new workshop: the same assignments,
    starters, references, notes and agenda."""
    name, data = pack_archive_bytes(workshop=workshop, fmt="zip")
    assert name == "dl101.zip"
    files = _files(name, data)
    assert "dl101/manifest.json" in files and "dl101/cnn/solution.py" in files
    assert all(not n.startswith("/") and ".." not in n for n in files)
    copy = pack_import(data=data, filename=name, slug="copy", created_by=instructor)
    assert copy.title == workshop.title and copy.agenda == workshop.agenda
    originals = list(workshop.assignments.order_by("order"))
    imported = list(copy.assignments.order_by("order"))
    assert [_values(a) for a in imported] == [_values(a) for a in originals]
    # DL101 as this repository ships it: trusted, released with no validation.
    assert all(a.released for a in imported)
    for old, new in zip(originals, imported, strict=True):
        for where in (
            folders.assignment_materials_dir,
            folders.assignment_reference_dir,
        ):
            for path in where(old.pk).iterdir():
                assert (where(new.pk) / path.name).read_bytes() == path.read_bytes()
        assert (folders.assignment_train_dir(new.pk) / "train.npz").is_file()
    old_notes, new_notes = notes_dir(workshop.pk), notes_dir(copy.pk)
    for note in old_notes.glob("*.md"):
        assert (new_notes / note.name).read_text() == note.read_text()
    assert copy.enrollments.get(user=instructor).role == "instructor"
    # A second export of the copy is the same pack, byte for byte in its files.
    again_name, again = pack_archive_bytes(workshop=copy, fmt="zip")
    renamed = {
        n.replace("copy/", "dl101/", 1): d for n, d in _files(again_name, again).items()
    }
    manifest = json.loads(renamed.pop("dl101/manifest.json"))
    original = json.loads(files["dl101/manifest.json"])
    assert manifest == {**original, "slug": "copy"}
    assert renamed == {k: v for k, v in files.items() if k != "dl101/manifest.json"}


def test_one_assignment_exports_as_tar_gz_and_imports(workshop, instructor):
    """An assignment alone: no agenda, no notes; the tar.gz imports as a workshop."""
    mlp = workshop.assignments.get(slug="mlp")
    name, data = pack_archive_bytes(workshop=workshop, assignment=mlp, fmt="tar.gz")
    assert name == "mlp.tar.gz"
    files = _files(name, data)
    assert sorted(files) == [
        "mlp/manifest.json",
        "mlp/mlp/instructions.md",
        "mlp/mlp/solution.py",
        "mlp/mlp/spec.json",
        "mlp/mlp/starter.ipynb",
    ]
    copy = pack_import(data=data, filename=name, slug="mlp-only", created_by=None)
    (only,) = copy.assignments.all()
    assert _values(only) == _values(mlp)
    # A pack this site does not ship: unreleased until Validate grades it here.
    assert not only.released


def _mlp_pack(workshop) -> dict[str, bytes]:
    mlp = workshop.assignments.get(slug="mlp")
    name, data = pack_archive_bytes(workshop=workshop, assignment=mlp, fmt="zip")
    return _files(name, data)


def _manifest(files: dict[str, bytes], change) -> dict[str, bytes]:
    manifest = json.loads(files["mlp/manifest.json"])
    change(manifest)
    return {**files, "mlp/manifest.json": json.dumps(manifest).encode()}


def _spec(files: dict[str, bytes], change) -> dict[str, bytes]:
    spec = json.loads(files["mlp/mlp/spec.json"])
    change(spec)
    return {**files, "mlp/mlp/spec.json": json.dumps(spec).encode()}


def _device(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "../../etc/passwd"
    return info


HOSTILE = {
    "absolute path": (
        lambda f: ("p.zip", _zip({**f, "/etc/cron.d/x": b"x"})),
        "absolute",
    ),
    "dot-dot path": (
        lambda f: ("p.zip", _zip({**f, "mlp/../../escape.md": b"x"})),
        "'..'",
    ),
    "windows path": (
        lambda f: ("p.zip", _zip({**f, "mlp\\..\\x.md": b"x"})),
        "Windows",
    ),
    "zip symlink": (
        lambda f: ("p.zip", _zip(f, links={"mlp/notes/a.md": "/etc/passwd"})),
        "is a link",
    ),
    "tar symlink": (
        lambda f: ("p.tar.gz", _tar(f, _device("mlp/x.md", tarfile.SYMTYPE))),
        "is a link",
    ),
    "tar hard link": (
        lambda f: ("p.tar.gz", _tar(f, _device("mlp/x.md", tarfile.LNKTYPE))),
        "is a link",
    ),
    "tar device": (
        lambda f: ("p.tar.gz", _tar(f, _device("mlp/dev", tarfile.CHRTYPE))),
        "a device or pipe",
    ),
    "tar fifo": (
        lambda f: ("p.tar.gz", _tar(f, _device("mlp/fifo", tarfile.FIFOTYPE))),
        "a device or pipe",
    ),
    "unknown file": (
        lambda f: ("p.zip", _zip({**f, "mlp/mlp/run.sh": b"rm -rf /"})),
        "is not part of a pack",
    ),
    "bad name": (
        lambda f: ("p.zip", _zip({**f, "mlp/notes/a b.md": b"x"})),
        "may hold only letters",
    ),
    "too deep": (
        lambda f: ("p.zip", _zip({**f, "mlp/mlp/x/y.md": b"x"})),
        "nested too deeply",
    ),
    "zip bomb member": (
        lambda f: ("p.zip", _zip({**f, "mlp/mlp/instructions.md": b"a" * 300_000})),
        "mlp/instructions.md is larger than 200,000 bytes",
    ),
    "not an archive": (lambda f: ("pack.txt", b"hello"), "Upload the pack as"),
    "broken zip": (lambda f: ("p.zip", b"PK\x03\x04broken"), "not a readable .zip"),
    "no manifest": (
        lambda f: ("p.zip", _zip({k: v for k, v in f.items() if "manifest" not in k})),
        "manifest.json is missing",
    ),
    "manifest not JSON": (
        lambda f: ("p.zip", _zip({**f, "mlp/manifest.json": b"{nope"})),
        "manifest.json is not valid JSON",
    ),
    "manifest nested too deeply": (
        lambda f: ("p.zip", _zip({**f, "mlp/manifest.json": b"[" * 50_000})),
        "nested too deeply",
    ),
    "instructions not UTF-8": (
        lambda f: ("p.zip", _zip({**f, "mlp/mlp/instructions.md": b"\xff\xfe\x00"})),
        "mlp/instructions.md is not UTF-8",
    ),
    "unknown kind": (
        lambda f: (
            "p.zip",
            _zip(_manifest(f, lambda m: m["assignments"][0].update(kind="rnn"))),
        ),
        "manifest.json assignments[0] kind: must be one of",
    ),
    "huge wall time": (
        lambda f: (
            "p.zip",
            _zip(
                _manifest(
                    f,
                    lambda m: m["assignments"][0]["limits"].update(wall_seconds=10**9),
                )
            ),
        ),
        "assignments[0] limits.wall_seconds: must be at most",
    ),
    "long title": (
        lambda f: (
            "p.zip",
            _zip(_manifest(f, lambda m: m["assignments"][0].update(title="x" * 201))),
        ),
        "assignments[0] title: must be text of 1 to 200",
    ),
    "bad slug": (
        lambda f: (
            "p.zip",
            _zip(_manifest(f, lambda m: m["assignments"][0].update(slug="../etc"))),
        ),
        "slug '../etc' must be lowercase",
    ),
    "missing limits": (
        lambda f: (
            "p.zip",
            _zip(_manifest(f, lambda m: m["assignments"][0].pop("limits"))),
        ),
        "assignments[0]: missing limits",
    ),
    "uploaded dataset": (
        lambda f: (
            "p.zip",
            _zip(
                _spec(f, lambda s: s.update(dataset={"source": "npz", "sha256": "0"}))
            ),
        ),
        "mlp/spec.json dataset.source: 'npz' cannot be imported",
    ),
    "base builder names other code": (
        lambda f: (
            "p.zip",
            _zip(_spec(f, lambda s: s.update(base_model={"builder": "os.system"}))),
        ),
        "mlp/spec.json base_model.builder: must be",
    ),
    "bad required layers": (
        lambda f: (
            "p.zip",
            _zip(_spec(f, lambda s: s["checks"].update(required_layers={"Dense": 0}))),
        ),
        "checks.required_layers",
    ),
    "solution syntax error": (
        lambda f: ("p.zip", _zip({**f, "mlp/mlp/solution.py": b"def (:\n"})),
        "mlp/solution.py: line 1: not valid Python",
    ),
    "starter not a notebook": (
        lambda f: ("p.zip", _zip({**f, "mlp/mlp/starter.ipynb": b'{"cells": 1}'})),
        "mlp/starter.ipynb: is not a Jupyter notebook",
    ),
}


def _duplicate(files: dict[str, bytes]) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in [*files.items(), ("mlp/manifest.json", b"{}")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return "p.tar.gz", buffer.getvalue()


HOSTILE["duplicate member"] = (_duplicate, "appears twice")


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_pack_is_refused_with_its_reason_and_nothing_stored(
    workshop, instructor, case
):
    """Each hostile archive is refused with a reason naming what is wrong."""
    make, reason = HOSTILE[case]
    name, data = make(_mlp_pack(workshop))
    before = _stored()
    with pytest.raises(ValidationError) as refused:
        pack_import(data=data, filename=name, slug="evil", created_by=instructor)
    text = " ".join(refused.value.messages)
    assert reason in text, text
    assert _stored() == before
    assert not Path("/etc/cron.d/x").exists()


@pytest.mark.parametrize(
    ("setting", "value", "reason"),
    [
        ("DOJO_PACK_MAX_BYTES", 1000, "packs are at most 1,000"),
        ("DOJO_PACK_MAX_MEMBERS", 3, "more than 3 members"),
        ("DOJO_PACK_MAX_UNPACKED_BYTES", 5000, "unpacks to more than 5,000 bytes"),
        ("DOJO_PACK_MAX_DATA_BUILDS", 0, "need 1 different data sets"),
    ],
)
def test_pack_bounds_come_from_settings(
    workshop, instructor, settings, setting, value, reason
):
    """Size, member count and unpacked bytes are bounded by settings."""
    name, data = "p.zip", _zip(_mlp_pack(workshop))
    before = _stored()
    setattr(settings, setting, value)
    with pytest.raises(ValidationError, match=reason):
        pack_import(data=data, filename=name, slug="big", created_by=instructor)
    assert _stored() == before


def test_import_refuses_a_taken_or_bad_slug(workshop, instructor):
    """The new workshop's address is checked first and named in the message."""
    name, data = "p.zip", _zip(_mlp_pack(workshop))
    for slug, reason in (("dl101", "exists"), ("Bad Slug", "lowercase")):
        with pytest.raises(ValidationError) as refused:
            pack_import(data=data, filename=name, slug=slug, created_by=instructor)
        assert list(refused.value.message_dict) == ["slug"]
        assert reason in refused.value.message_dict["slug"][0]


def test_instructor_exports_and_imports_packs_in_the_pages(
    client, workshop, instructor, participant
):
    """Export links download archives; the import page creates the workshop and
    refuses a bad upload next to the field it concerns, storing nothing."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    client.force_login(instructor)
    manage = client.get(reverse("workshop-manage", args=[workshop.slug]))
    assert (
        reverse("pack-export", args=[workshop.slug, "zip"]) in manage.content.decode()
    )
    answer = client.get(
        reverse("assignment-pack-export", args=[workshop.slug, "mlp", "tar.gz"])
    )
    assert answer.status_code == 200
    assert answer["Content-Disposition"] == 'attachment; filename="mlp.tar.gz"'
    assert "mlp/mlp/spec.json" in _files("mlp.tar.gz", answer.content)
    assert (
        client.get(reverse("pack-export", args=[workshop.slug, "rar"])).status_code
        == 404
    )
    url = reverse("workshop-import")
    before = _stored()
    bad = client.post(
        url, {"slug": "evil", "pack": SimpleUploadedFile("p.zip", _zip({"/x": b"x"}))}
    )
    assert bad.status_code == 400
    assert list(bad.context["form"].errors) == ["pack"]
    assert "absolute" in bad.content.decode()
    missing = client.post(url, {"slug": "evil"})
    assert missing.status_code == 400 and list(missing.context["form"].errors) == [
        "pack"
    ]
    taken = client.post(
        url, {"slug": workshop.slug, "pack": SimpleUploadedFile("p.zip", b"PK")}
    )
    assert list(taken.context["form"].errors) == ["slug"]
    for field, value, reason in (
        ("slug", "Not A Slug", "valid"),
        ("title", "x" * 201, "at most 200"),
    ):
        bad_field = client.post(
            url,
            {
                "slug": "fine",
                "title": "",
                field: value,
                "pack": SimpleUploadedFile("p.zip", b"PK"),
            },
        )
        assert bad_field.status_code == 400
        assert list(bad_field.context["form"].errors) == [field]
        assert reason in " ".join(bad_field.context["form"].errors[field])
    assert _stored() == before
    data = client.get(reverse("pack-export", args=[workshop.slug, "zip"])).content
    made = client.post(
        url,
        {"slug": "again", "title": "Again", "pack": SimpleUploadedFile("d.zip", data)},
    )
    assert made.status_code == 302
    again = Workshop.objects.get(slug="again")
    assert again.title == "Again" and again.assignments.count() == 4
    client.force_login(participant)
    assert client.get(url).status_code == 403
    assert client.get(
        reverse("pack-export", args=[workshop.slug, "zip"])
    ).status_code in (403, 404)


def test_management_commands_export_and_import(workshop, instructor, tmp_path):
    """pack_export writes a folder or an archive; pack_import refuses with reasons."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    call_command("pack_export", "dl101", str(tmp_path / "out"))
    assert (tmp_path / "out" / "dl101" / "manifest.json").is_file()
    archive = tmp_path / "dl101.tar.gz"
    call_command("pack_export", "dl101", str(archive), "--assignment", "cnn")
    call_command(
        "pack_import", str(archive), "--slug", "cnn-copy", "--instructor", "ines"
    )
    assert Workshop.objects.get(slug="cnn-copy").assignments.get().slug == "cnn"
    evil = tmp_path / "evil.zip"
    evil.write_bytes(_zip({"../x": b"x"}))
    with pytest.raises(CommandError, match="'..'"):
        call_command("pack_import", str(evil), "--slug", "evil")
    assert not Workshop.objects.filter(slug="evil").exists()


def test_uploaded_data_is_named_not_carried(workshop, instructor):
    """An assignment on uploaded data exports the pack's own dataset, with a note."""
    import numpy as np
    from django.core.files.uploadedfile import SimpleUploadedFile

    from workshops.data_uploads import assignment_dataset_upload

    buffer = io.BytesIO()
    x = np.random.default_rng(0).integers(0, 256, (60, 6, 6), dtype="uint8")
    np.savez_compressed(buffer, x=x, y=np.repeat(np.arange(3), 20))
    mlp = workshop.assignments.get(slug="mlp")
    original = json.loads(
        (folders.assignment_reference_dir(mlp.pk) / "spec.json").read_text()
    )
    mlp = assignment_dataset_upload(
        assignment=mlp, upload=SimpleUploadedFile("faces.npz", buffer.getvalue())
    )
    assert mlp.spec["dataset"]["source"] == "npz"
    name, data = pack_archive_bytes(workshop=workshop, assignment=mlp, fmt="zip")
    files = _files(name, data)
    spec = json.loads(files["mlp/mlp/spec.json"])
    assert spec["dataset"] == original["dataset"]
    assert spec["checks"] == original["checks"]
    assert "not carried" in files["mlp/README.md"].decode()
    copy = pack_import(data=data, filename=name, slug="mlp-again", created_by=None)
    assert copy.assignments.get().spec["dataset"] == original["dataset"]


def test_the_nlp_pack_round_trips_with_its_licences(workshop, instructor):
    """DL4NLP (text data) exports with LICENSES.md and imports the same."""
    from workshops.services import workshop_create

    nlp = workshop_create(
        title="NLP morning", slug="nlp", pack="dl4nlp", created_by=instructor
    )
    name, data = pack_archive_bytes(workshop=nlp, fmt="tar.gz")
    files = _files(name, data)
    assert "nlp/LICENSES.md" in files
    copy = pack_import(data=data, filename=name, slug="nlp-copy", created_by=None)
    originals = list(nlp.assignments.order_by("order"))
    imported = list(copy.assignments.order_by("order"))
    assert [_values(a) for a in imported] == [_values(a) for a in originals]
    again = _files(*pack_archive_bytes(workshop=copy, fmt="zip"))
    assert again["nlp-copy/LICENSES.md"] == files["nlp/LICENSES.md"]


def test_the_import_page_caps_the_archive_before_reading_it(
    client, workshop, instructor, settings
):
    """An archive past DOJO_PACK_MAX_BYTES is stopped while it streams (or
    refused unread when the body announces it): 413, the reason beside the
    pack field, nothing stored."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from web.uploads import MULTIPART_OVERHEAD_BYTES

    settings.DOJO_PACK_MAX_BYTES = 2_000
    client.force_login(instructor)
    url = reverse("workshop-import")
    before = _stored()
    big = SimpleUploadedFile("p.zip", b"PK" + b"x" * 500_000)
    streamed = client.post(url, {"slug": "big", "pack": big})
    assert streamed.status_code == 413
    errors = streamed.context["form"].errors
    assert list(errors) == ["pack"] and "larger than 2,000 bytes" in str(errors)
    announced = client.post(
        url,
        {"slug": "big", "pack": SimpleUploadedFile("p.zip", b"PK")},
        CONTENT_LENGTH=str(2_000 + MULTIPART_OVERHEAD_BYTES + 1),
    )
    assert announced.status_code == 413
    assert list(announced.context["form"].errors) == ["pack"]
    assert _stored() == before
