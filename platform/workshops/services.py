"""Writes on workshops, enrollments and assignments."""

import dataclasses
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction

from workshops import folders
from workshops.folders import cached_build, data_slice, sha256_json
from workshops.models import FINAL_LIMIT_MAX, Assignment, Enrollment, Workshop
from workshops.samples import samples_write

if TYPE_CHECKING:
    from assignments.pack import AssignmentDef


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    shutil.copyfile(source, target)


def assignment_data_prepare(*, assignment: Assignment) -> None:
    """Give the assignment its train split, hidden split and pretrained base.

    A text pack whose data is not installed here keeps its notice (shown on
    every page of the workshop) and gets no data until it is installed and the
    pack reloaded.
    """
    from assignments import datasets

    dataset = assignment.spec.get("dataset", {"source": "sklearn-digits"})
    if dataset.get("source") in datasets.TEXT_SOURCES and assignment.spec.get(
        "data_notice"
    ):
        return
    npz_path = None
    if dataset.get("source") == "npz":
        # An instructor's upload, kept under the hash it was stored by.
        npz_path = folders.assignment_dir(assignment.pk) / "uploads"
        npz_path = npz_path / f"{dataset['sha256']}.npz"
    slice_ = data_slice()
    split = cached_build(
        folders.dataset_build_key(dataset),
        lambda folder: datasets.materialize(
            dataset, folder, npz_path=npz_path, **slice_
        ),
    )
    train_dir = folders.assignment_train_dir(assignment.pk)
    _place(split / "train.npz", train_dir / "train.npz")
    # A text source's vocabulary and vectors go with the training split.
    for extra in datasets.TRAIN_EXTRAS:
        if (split / extra).is_file():
            _place(split / extra, train_dir / extra)
        else:  # a spec that no longer names vectors leaves none behind
            (train_dir / extra).unlink(missing_ok=True)
    hidden = folders.assignment_hidden_dir(assignment.pk) / "test.npz"
    _place(split / "test.npz", hidden)
    samples_write(assignment_id=assignment.pk, test_split=hidden)
    uploaded_base = assignment.spec.get("base_model", {}).get("source") == "upload"
    # A text pack's transfer assignment starts from word vectors, not a base.
    if (
        assignment.kind == Assignment.Kind.TRANSFER
        and dataset.get("source") not in datasets.TEXT_SOURCES
        and not uploaded_base
    ):
        from assignments.transfer import build_base

        source = {"source": dataset.get("source", "fashion-mnist")}
        base = cached_build(
            folders.base_build_key(source["source"]),
            lambda f: build_base(
                f / "base.keras",
                dataset=source,
                train_per_class=slice_["train_per_class"],
            ),
        )
        _place(
            base / "base.keras",
            folders.assignment_train_dir(assignment.pk) / "base.keras",
        )
    elif not uploaded_base:
        # No base for this assignment: none left from an earlier one of the
        # same id (a database made anew beside the old files) is offered.
        (train_dir / "base.keras").unlink(missing_ok=True)


def _available_data(spec: dict) -> dict:
    """Fall back to the digits, with a notice, where the pack's data is missing."""
    from assignments import datasets

    dataset, notice = datasets.resolve_dataset(spec.get("dataset", {}))
    if not notice:
        return spec
    if dataset.get("source") in datasets.TEXT_SOURCES:
        return {**spec, "data_notice": notice}
    classes = dataset.get("classes")
    return {
        **spec,
        "dataset": dataset,
        "data_notice": notice,
        "checks": {**spec.get("checks", {}), "input_shape": [8, 8, 1]},
        "class_names": datasets.class_names(
            dataset["source"],
            classes=classes,
            num_classes=len(classes) if classes else 10,
        ),
    }


def pack_data_build_keys(*, items: "list[AssignmentDef]") -> set[str]:
    """Return the data builds loading these pack entries needs (cache keys).

    The same keys ``assignment_data_prepare`` builds under: one per distinct
    data set, one per source a transfer base is built from.
    """
    from assignments import datasets

    keys = set()
    for item in items:
        spec = _available_data(item.spec)
        dataset = spec.get("dataset", {"source": "sklearn-digits"})
        source = dataset.get("source")
        if source in datasets.TEXT_SOURCES and spec.get("data_notice"):
            continue
        keys.add(folders.dataset_build_key(dataset))
        if item.kind == Assignment.Kind.TRANSFER and source not in (
            datasets.TEXT_SOURCES
        ):
            keys.add(folders.base_build_key(source or "fashion-mnist"))
    return keys


def _keep_uploads(pack_spec: dict, current: dict) -> dict:
    spec = json.loads(json.dumps(pack_spec))
    if current.get("dataset", {}).get("source") == "npz":
        spec["dataset"] = current["dataset"]
        for key in ("input_shape", "num_classes"):
            if key in current.get("checks", {}):
                spec.setdefault("checks", {})[key] = current["checks"][key]
        spec.pop("data_notice", None)
        spec.pop("class_names", None)
        if "class_names" in current:
            spec["class_names"] = current["class_names"]
    if current.get("base_model", {}).get("source") == "upload":
        spec["base_model"] = current["base_model"]
    return spec


def assignment_upsert(*, workshop: Workshop, item: "AssignmentDef") -> Assignment:
    """Create or update one assignment from a pack entry; bump its spec version.

    A dataset or base an instructor uploaded stays: reloading the pack updates
    everything else.
    """
    assignment = Assignment.objects.filter(workshop=workshop, slug=item.slug).first()
    spec = _keep_uploads(
        _available_data(item.spec), assignment.spec if assignment else {}
    )
    spec_sha = sha256_json(spec)
    limits = dataclasses.asdict(item.limits)
    if assignment is None:
        assignment = Assignment(
            workshop=workshop,
            slug=item.slug,
            daily_limit=item.daily_limit,
            score_policy=item.score_policy,
            queue=item.queue,
            spec_version=1,
        )
    elif assignment.spec_sha256 != spec_sha:
        # Grades made under the old spec keep their spec_version and show as such.
        assignment.spec_version += 1
    assignment.title = item.title
    assignment.kind = item.kind
    assignment.order = item.order
    assignment.instructions_md = item.instructions_md
    assignment.spec = spec
    assignment.spec_sha256 = spec_sha
    assignment.wall_seconds = limits.get("wall_seconds", assignment.wall_seconds)
    assignment.cpu_seconds = limits.get("cpu_seconds", assignment.cpu_seconds)
    assignment.memory_mb = limits.get("memory_mb", assignment.memory_mb)
    assignment.full_clean()
    assignment.save()
    materials = folders.assignment_materials_dir(assignment.pk)
    materials.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(item.starter_path, materials / "starter.ipynb")
    # The reference solution and the pack's own spec, kept out of participants'
    # reach for exporting the assignment as a pack again (workshops/packs.py).
    reference = folders.assignment_reference_dir(assignment.pk)
    reference.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(item.solution_path, reference / "solution.py")
    (reference / "spec.json").write_text(
        json.dumps(item.spec, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return assignment


def workshop_load_pack(*, path: Path, slug: str | None = None) -> Workshop:
    """Create or update a workshop from a pack folder; loading twice changes nothing."""
    from assignments.pack import PackError, load_pack

    try:
        pack = load_pack(Path(path))
    except PackError as exc:
        raise ValidationError(str(exc)) from None
    with transaction.atomic():
        workshop, _ = Workshop.objects.get_or_create(
            slug=slug or pack.slug, defaults={"title": pack.title, "pack": pack.slug}
        )
        workshop.title = pack.title
        workshop.description = pack.description
        workshop.agenda = [dataclasses.asdict(slot) for slot in pack.agenda]
        workshop.pack = pack.slug
        workshop.save()
        assignments = [
            assignment_upsert(workshop=workshop, item=item) for item in pack.assignments
        ]
    for assignment in assignments:
        assignment_data_prepare(assignment=assignment)
    from workshops.notes import workshop_notes_prepare

    workshop_notes_prepare(workshop=workshop, pack=pack, assignments=assignments)
    return workshop


def enrollment_add(
    *, workshop: Workshop, user: AbstractUser, role: str = Enrollment.Role.PARTICIPANT
) -> Enrollment:
    """Enroll a user (again); an instructor never loses that role by joining."""
    enrollment, created = Enrollment.objects.get_or_create(
        user=user, workshop=workshop, defaults={"role": role}
    )
    changed = False
    if not enrollment.active:
        enrollment.active, changed = True, True
    if role == Enrollment.Role.INSTRUCTOR and enrollment.role != role:
        enrollment.role, changed = role, True
    if changed:
        enrollment.save()
    return enrollment


def workshop_join(*, user: AbstractUser, join_code: str) -> Workshop:
    """Enroll a participant by the workshop's join code."""
    code = (join_code or "").strip().upper()
    workshop = Workshop.objects.filter(join_code=code).first()
    if workshop is None:
        raise ValidationError(
            "No workshop has that join code. Check it with your instructor; it has "
            "8 letters and digits."
        )
    if workshop.archived:
        raise ValidationError(
            "This workshop is archived and takes no new participants."
        )
    enrollment_add(workshop=workshop, user=user)
    return workshop


# --- Management from the site --------------------------------------------------

PACKS_DIR = Path(__file__).resolve().parents[2] / "assignments"


def _pack_title(folder: Path) -> str:
    """Return the title in the folder's manifest, or its name where it has none.

    Only the manifest is read (not the whole pack), so the form stays cheap; a
    manifest that cannot be read still lists its folder, and creating the
    workshop then says what is wrong with it.
    """
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return folder.name
    title = manifest.get("title") if isinstance(manifest, dict) else None
    if not isinstance(title, str) or not title.strip():
        return folder.name
    return title.strip()


def pack_choices() -> list[tuple[str, str]]:
    """Return the packs shipped with the site, as (folder, title) pairs by title."""
    folders_with_manifest = [
        folder for folder in PACKS_DIR.iterdir() if (folder / "manifest.json").is_file()
    ]
    return sorted(
        ((folder.name, _pack_title(folder)) for folder in folders_with_manifest),
        key=lambda choice: (choice[1].casefold(), choice[0]),
    )


def workshop_refuse_if_archived(workshop: Workshop) -> None:
    """Raise a ValidationError when the workshop is archived (read-only)."""
    if workshop.archived:
        raise ValidationError(
            "This workshop is archived and read-only. Unarchive it first to change it."
        )


def _check_dates(starts_at, ends_at) -> None:
    if starts_at and ends_at and ends_at <= starts_at:
        raise ValidationError({"ends_at": "The end must come after the start."})


def workshop_create(
    *,
    title: str,
    slug: str,
    pack: str,
    created_by: AbstractUser,
    starts_at=None,
    ends_at=None,
) -> Workshop:
    """Create a workshop from a shipped pack and make its creator an instructor."""
    if pack not in dict(pack_choices()):
        raise ValidationError({"pack": f"There is no pack named “{pack}”."})
    if Workshop.objects.filter(slug=slug).exists():
        raise ValidationError(
            {"slug": f"A workshop with the address “{slug}” exists; choose another."}
        )
    _check_dates(starts_at, ends_at)
    workshop = workshop_load_pack(path=PACKS_DIR / pack, slug=slug)
    workshop.title = title or workshop.title
    workshop.starts_at, workshop.ends_at = starts_at, ends_at
    workshop.full_clean()
    workshop.save()
    enrollment_add(workshop=workshop, user=created_by, role=Enrollment.Role.INSTRUCTOR)
    return workshop


def workshop_update(
    *,
    workshop: Workshop,
    title: str,
    description: str,
    starts_at=None,
    ends_at=None,
    agenda: list[dict],
) -> Workshop:
    """Change a workshop's title, dates and agenda."""
    workshop_refuse_if_archived(workshop)
    _check_dates(starts_at, ends_at)
    workshop.title = title
    workshop.description = description
    workshop.starts_at, workshop.ends_at = starts_at, ends_at
    # A block keeps its notes and assignment links while its title stays.
    links = {
        item.get("title"): {k: item[k] for k in ("notes", "assignment") if k in item}
        for item in workshop.agenda or []
        if isinstance(item, dict)
    }
    workshop.agenda = [{**item, **links.get(item.get("title"), {})} for item in agenda]
    workshop.full_clean()
    workshop.save()
    return workshop


def workshop_archive(*, workshop: Workshop, archived: bool) -> Workshop:
    """Archive (read-only, still exportable) or reopen a workshop."""
    workshop.archived = archived
    workshop.save(update_fields=["archived"])
    return workshop


# Checks a higher layer registers (the dashboard: "the reference's latest
# validation failed"); each returns why the assignment may not be released.
_RELEASE_GUARDS: list = []


def release_guard_register(guard) -> None:
    """Register ``guard(assignment) -> str | None``, asked before each release."""
    if guard not in _RELEASE_GUARDS:
        _RELEASE_GUARDS.append(guard)


def assignment_release_refusal(*, assignment: Assignment) -> str | None:
    """Return why the assignment may not be released now, or None."""
    for guard in _RELEASE_GUARDS:
        if reason := guard(assignment):
            return reason
    return None


def _refuse_release(assignment: Assignment, released: bool, field: str) -> None:
    """Refuse a release a guard forbids (a bound form may have set the flag)."""
    if not released or assignment.pk is None:
        return
    stored = Assignment.objects.filter(pk=assignment.pk).values_list(
        "released", flat=True
    )
    if not stored.first() and (
        reason := assignment_release_refusal(assignment=assignment)
    ):
        raise ValidationError({field: reason})


def assignment_update_settings(
    *,
    assignment: Assignment,
    deadline=None,
    daily_limit: int,
    score_policy: str,
    reveal_private: bool,
    released: bool,
    closed: bool,
    final_limit: int | None = None,
) -> Assignment:
    """Change the settings an instructor controls during the workshop."""
    workshop_refuse_if_archived(assignment.workshop)
    if daily_limit < 1:
        raise ValidationError(
            {
                "daily_limit": "Allow at least one submission a day; close the "
                "assignment instead to stop submissions."
            }
        )
    if final_limit is not None and not 1 <= final_limit <= FINAL_LIMIT_MAX:
        raise ValidationError(
            {
                "final_limit": "Let each participant mark from 1 to "
                f"{FINAL_LIMIT_MAX} submissions as final."
            }
        )
    if final_limit is not None:
        assignment.final_limit = final_limit
    _refuse_release(assignment, released, "released")
    assignment.deadline = deadline
    assignment.daily_limit = daily_limit
    assignment.score_policy = score_policy
    assignment.reveal_private = reveal_private
    assignment.released = released
    assignment.closed = closed
    assignment.full_clean()
    assignment.save()
    return assignment


def assignment_set_state(
    *, assignment: Assignment, released: bool | None = None, closed: bool | None = None
) -> Assignment:
    """Release/hide or close/reopen one assignment."""
    workshop_refuse_if_archived(assignment.workshop)
    if released is not None:
        _refuse_release(assignment, released, "released")
        assignment.released = released
    if closed is not None:
        assignment.closed = closed
    assignment.save(update_fields=["released", "closed"])
    return assignment


def instructor_add(*, workshop: Workshop, username: str) -> Enrollment:
    """Make an existing user a co-instructor of the workshop."""
    from django.contrib.auth import get_user_model

    workshop_refuse_if_archived(workshop)
    user = get_user_model().objects.filter(username=(username or "").strip()).first()
    if user is None:
        raise ValidationError(
            {"username": f"No user is called “{username}”. They must sign up first."}
        )
    return enrollment_add(workshop=workshop, user=user, role=Enrollment.Role.INSTRUCTOR)


def enrollment_deactivate(*, enrollment: Enrollment) -> Enrollment:
    """Remove a participant from the workshop; their submissions are kept."""
    workshop_refuse_if_archived(enrollment.workshop)
    if enrollment.role != Enrollment.Role.PARTICIPANT:
        raise ValidationError("Only participants can be removed here.")
    enrollment.active = False
    enrollment.save(update_fields=["active"])
    return enrollment


def roster_import(*, workshop: Workshop, csv_text: str) -> dict[str, int]:
    """Create and enroll users from "username,email" lines; all or nothing.

    New users get an unusable password: they set one with "forgot password" or
    an instructor sets it in the admin. A header line is skipped.
    """
    import csv
    import io

    from django.contrib.auth import get_user_model
    from django.contrib.auth.validators import UnicodeUsernameValidator
    from django.core.validators import validate_email

    workshop_refuse_if_archived(workshop)
    user_model = get_user_model()
    entries, errors = [], []
    for number, row in enumerate(csv.reader(io.StringIO(csv_text or "")), start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if number == 1 and cells[0].lower() == "username":
            continue
        username = cells[0]
        email = cells[1] if len(cells) > 1 else ""
        try:
            UnicodeUsernameValidator()(username)
            if len(username) > 150:
                raise ValidationError("too long")
            if email:
                validate_email(email)
        except ValidationError:
            errors.append(
                f"Line {number}: “{','.join(cells)}” is not a valid "
                "username,email pair."
            )
            continue
        entries.append((username, email))
    if errors:
        raise ValidationError({"roster": errors})
    if not entries:
        raise ValidationError(
            {
                "roster": "The file has no rows. Write one participant a line: "
                "username,email."
            }
        )
    created = enrolled = 0
    with transaction.atomic():
        for username, email in entries:
            user = user_model.objects.filter(username=username).first()
            if user is None:
                user = user_model(username=username, email=email)
                user.set_unusable_password()
                user.save()
                created += 1
            enrollment_add(workshop=workshop, user=user)
            enrolled += 1
    return {"created": created, "enrolled": enrolled}
