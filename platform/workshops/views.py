"""Pages for joining, following and managing workshops."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from web.uploads import BodyTooLarge, LimitedUploadHandler, upload_guard
from workshops import data_uploads, folders, notes, selectors, services
from workshops.authoring import (
    assignment_author,
    authored_from_assignment,
    instructions_preview,
)
from workshops.forms import (
    AssignmentAuthorForm,
    AssignmentSettingsForm,
    BaseUploadForm,
    DatasetUploadForm,
    InstructorForm,
    JoinForm,
    PackImportForm,
    RosterForm,
    WorkshopCreateForm,
    WorkshopForm,
)
from workshops.models import Assignment, Enrollment
from workshops.pack_archive import max_archive_bytes
from workshops.pack_import import pack_import
from workshops.packs import FORMATS, PackExportError, pack_archive_bytes


def add_service_errors(
    form: forms.Form, exc: ValidationError, field: str | None = None
) -> None:
    """Show a service's ValidationError next to the fields it names."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            target = name if name in form.fields else field
            for error in errors:
                form.add_error(target, error)
    else:
        form.add_error(field, exc)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "workshops/home.html",
        {
            "enrollments": selectors.workshop_list_for_user(user=request.user),
            "join_form": JoinForm(),
            "can_create": selectors.user_can_create_workshops(user=request.user),
        },
    )


@login_required
def join(request: HttpRequest) -> HttpResponse:
    form = JoinForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workshop = services.workshop_join(
                user=request.user, join_code=form.cleaned_data["join_code"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc, "join_code")
        else:
            messages.success(request, f"You joined “{workshop.title}”.")
            return redirect(workshop)
    return render(request, "workshops/join.html", {"form": form})


def join_link(request: HttpRequest, code: str) -> HttpResponse:
    """An invite link: show the workshop and a button; anonymous users sign up."""
    workshop = selectors.workshop_by_join_code(code=code)
    if workshop is None:
        raise Http404("This invite link is not valid.")
    if request.method == "POST" and request.user.is_authenticated:
        try:
            services.workshop_join(user=request.user, join_code=code)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"You joined “{workshop.title}”.")
            return redirect(workshop)
    enrolled = selectors.enrollment_get(user=request.user, workshop=workshop)
    if enrolled:
        return redirect(workshop)
    return render(
        request, "workshops/join_link.html", {"workshop": workshop, "code": code}
    )


@login_required
def workshop_note(request: HttpRequest, slug: str, note: str) -> HttpResponse:
    """Show one theory block's notes with the figures computed at load."""
    workshop, _ = selectors.workshop_for_member(user=request.user, slug=slug)
    html = notes.note_render(workshop=workshop, slug=note)
    if html is None:
        raise Http404("This workshop has no such notes.")
    title = notes.note_list(workshop=workshop)[note]["title"]
    return render(
        request,
        "workshops/note.html",
        {"workshop": workshop, "note_html": html, "title": title},
    )


DOWNLOADS = {
    # name in the URL -> (folder function, file name, download name)
    "starter": (folders.assignment_materials_dir, "starter.ipynb", "starter.ipynb"),
    "train": (folders.assignment_train_dir, "train.npz", "train.npz"),
    "base": (folders.assignment_train_dir, "base.keras", "base.keras"),
}


def download_available(assignment_id: int) -> dict[str, bool]:
    return {
        name: (folder(assignment_id) / filename).is_file()
        for name, (folder, filename, _) in DOWNLOADS.items()
    }


@login_required
def assignment_download(
    request: HttpRequest, workshop: str, slug: str, what: str
) -> FileResponse:
    """Serve a participant download; the hidden test split is never listed here."""
    assignment, _ = selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug
    )
    if what not in DOWNLOADS:
        raise Http404("No such download.")
    folder, filename, download_name = DOWNLOADS[what]
    path = folder(assignment.pk) / filename
    if not path.is_file():
        raise Http404("This assignment has no such file.")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"{assignment.slug}-{download_name}",
    )


@login_required
def workshop_create(request: HttpRequest) -> HttpResponse:
    if not selectors.user_can_create_workshops(user=request.user):
        raise PermissionDenied("Only instructors may create workshops.")
    form = WorkshopCreateForm(request.POST or None, initial={"pack": "dl101"})
    if request.method == "POST" and form.is_valid():
        try:
            workshop = services.workshop_create(
                created_by=request.user, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Workshop “{workshop.title}” created.")
            return redirect("workshop-manage", slug=workshop.slug)
    return render(request, "workshops/workshop_create.html", {"form": form})


@csrf_exempt  # CSRF is checked below, once the archive's cap is in place
@login_required
def workshop_import(request: HttpRequest) -> HttpResponse:
    """Create a workshop from an uploaded pack archive (checked as hostile input).

    The archive is capped before the body is parsed: a body announced larger
    than DOJO_PACK_MAX_BYTES is refused unread (a refusal changes nothing, so it
    needs no CSRF token), and a file streaming past it is stopped there, never
    stored whole.
    """
    if not selectors.user_can_create_workshops(user=request.user):
        raise PermissionDenied("Only instructors may create workshops.")
    guard = None
    if request.method == "POST":
        try:
            guard = upload_guard(request, limit=max_archive_bytes())
        except BodyTooLarge:
            return _pack_too_large(request, PackImportForm())
    return _workshop_import(request, guard)


def _pack_too_large(request: HttpRequest, form: PackImportForm) -> HttpResponse:
    form.errors.clear()
    form.errors["pack"] = form.error_class(
        [
            f"The archive is larger than {max_archive_bytes():,} bytes, the "
            "limit for packs; nothing was read or stored."
        ]
    )
    return render(request, "workshops/workshop_import.html", {"form": form}, status=413)


@csrf_protect
def _workshop_import(
    request: HttpRequest, guard: LimitedUploadHandler | None
) -> HttpResponse:
    files = request.FILES if guard is not None else None  # parses, under the cap
    form = PackImportForm(request.POST or None, files or None)
    status = 200
    if guard is not None and guard.exceeded:
        # Fields after the stopped file were not read: only the archive is wrong.
        form = PackImportForm(data=request.POST, files={})
        form.is_valid()  # an unbound form cannot carry errors
        return _pack_too_large(request, form)
    if request.method == "POST":
        status = 400
        if form.is_valid():
            upload = form.cleaned_data["pack"]
            try:
                workshop = pack_import(
                    data=upload.read(),
                    filename=upload.name,
                    slug=form.cleaned_data["slug"],
                    title=form.cleaned_data["title"],
                    created_by=request.user,
                )
            except ValidationError as exc:
                add_service_errors(form, exc, "pack")
            else:
                messages.success(
                    request, f"Workshop “{workshop.title}” imported from the pack."
                )
                return redirect("workshop-manage", slug=workshop.slug)
    return render(
        request, "workshops/workshop_import.html", {"form": form}, status=status
    )


@login_required
def pack_export(
    request: HttpRequest, slug: str, fmt: str, assignment: str | None = None
) -> HttpResponse:
    """Download the workshop, or one assignment, as a pack archive."""
    workshop, _ = selectors.workshop_for_member(
        user=request.user, slug=slug, instructor=True
    )
    if fmt not in FORMATS:
        raise Http404("Packs download as pack.zip or pack.tar.gz.")
    chosen = None
    if assignment is not None:
        chosen = get_object_or_404(workshop.assignments, slug=assignment)
    try:
        name, data = pack_archive_bytes(workshop=workshop, assignment=chosen, fmt=fmt)
    except PackExportError as exc:
        messages.error(request, f"The pack could not be written: {exc}")
        return redirect("workshop-manage", slug=workshop.slug)
    kind = "application/zip" if fmt == "zip" else "application/gzip"
    response = HttpResponse(data, content_type=kind)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _manage_context(workshop, **forms_) -> dict:
    return {
        "workshop": workshop,
        "instructor": True,
        "assignments": list(workshop.assignments.order_by("order")),
        "enrollments": list(selectors.enrollment_list_for_workshop(workshop=workshop)),
        "workshop_form": forms_.get("workshop_form") or WorkshopForm(instance=workshop),
        "roster_form": forms_.get("roster_form") or RosterForm(),
        "instructor_form": forms_.get("instructor_form") or InstructorForm(),
    }


@login_required
def workshop_manage(request: HttpRequest, slug: str) -> HttpResponse:
    """Settings, agenda, release/close, roster, co-instructors, archive."""
    workshop, _ = selectors.workshop_for_member(
        user=request.user, slug=slug, instructor=True
    )
    if request.method != "POST":
        return render(request, "workshops/manage.html", _manage_context(workshop))
    action = request.POST.get("action", "")
    bound: dict = {}
    try:
        if action == "details":
            form = bound["workshop_form"] = WorkshopForm(
                request.POST, instance=workshop
            )
            if form.is_valid():
                data = form.cleaned_data
                try:
                    services.workshop_update(
                        workshop=workshop,
                        title=data["title"],
                        description=data["description"],
                        starts_at=data["starts_at"],
                        ends_at=data["ends_at"],
                        agenda=data["agenda_text"],
                    )
                except ValidationError as exc:
                    workshop.refresh_from_db()
                    add_service_errors(form, exc)
                else:
                    messages.success(request, "Workshop details saved.")
                    return redirect("workshop-manage", slug=slug)
            workshop.refresh_from_db()
        elif action == "roster":
            form = bound["roster_form"] = RosterForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    result = services.roster_import(
                        workshop=workshop, csv_text=form.csv_text()
                    )
                except (ValidationError, forms.ValidationError) as exc:
                    add_service_errors(form, exc, "roster")
                else:
                    messages.success(
                        request,
                        f"Roster imported: {result['enrolled']} enrolled, "
                        f"{result['created']} new accounts.",
                    )
                    return redirect("workshop-manage", slug=slug)
        elif action == "instructor":
            form = bound["instructor_form"] = InstructorForm(request.POST)
            if form.is_valid():
                try:
                    services.instructor_add(
                        workshop=workshop, username=form.cleaned_data["username"]
                    )
                except ValidationError as exc:
                    add_service_errors(form, exc, "username")
                else:
                    messages.success(request, "Co-instructor added.")
                    return redirect("workshop-manage", slug=slug)
        elif action == "remove":
            enrollment = get_object_or_404(
                Enrollment, workshop=workshop, pk=request.POST.get("enrollment")
            )
            services.enrollment_deactivate(enrollment=enrollment)
            messages.success(
                request,
                f"{enrollment.user.username} was removed from the workshop; "
                "their submissions are kept.",
            )
            return redirect("workshop-manage", slug=slug)
        elif action in ("release", "hide", "close", "reopen"):
            assignment = get_object_or_404(
                workshop.assignments, pk=request.POST.get("assignment")
            )
            services.assignment_set_state(
                assignment=assignment,
                released={"release": True, "hide": False}.get(action),
                closed={"close": True, "reopen": False}.get(action),
            )
            messages.success(request, f"“{assignment.title}”: {action} done.")
            return redirect("workshop-manage", slug=slug)
        elif action in ("archive", "unarchive"):
            services.workshop_archive(workshop=workshop, archived=action == "archive")
            messages.success(
                request,
                "Workshop archived: it is read-only, grades can still be exported."
                if action == "archive"
                else "Workshop reopened.",
            )
            return redirect("workshop-manage", slug=slug)
        else:
            messages.error(request, "Unknown action.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("workshop-manage", slug=slug)
    return render(
        request, "workshops/manage.html", _manage_context(workshop, **bound), status=400
    )


@login_required
def assignment_settings(request: HttpRequest, workshop: str, slug: str) -> HttpResponse:
    assignment, _ = selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug, instructor=True
    )
    form = AssignmentSettingsForm(request.POST or None, instance=assignment)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.assignment_update_settings(
                    assignment=assignment, **form.cleaned_data
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Assignment settings saved.")
                return redirect("assignment-stats", workshop=workshop, slug=slug)
        assignment.refresh_from_db()
        status = 400
    return render(
        request,
        "workshops/assignment_settings.html",
        {
            "assignment": assignment,
            "workshop": assignment.workshop,
            "form": form,
            "instructor": True,
        },
        status=status,
    )


def _data_message(assignment) -> str:
    summary = data_uploads.assignment_data_summary(assignment=assignment)
    images = summary["train_images"]
    text = (
        f"New dataset: {images:,} training images of {summary['input_shape']}, "
        f"{summary['num_classes']} classes; spec v{summary['spec_version']}."
    )
    return f"{text} {summary['mismatch']}".strip()


def _base_message(assignment) -> str:
    summary = data_uploads.assignment_data_summary(assignment=assignment)
    shape = "x".join(str(d) for d in assignment.spec["base_model"]["input_shape"])
    text = (
        f"New pretrained base for {shape} images published; participants download "
        f"it and grading checks against it; spec v{summary['spec_version']}."
    )
    return f"{text} {summary['mismatch']}".strip()


@login_required
def assignment_data(request: HttpRequest, workshop: str, slug: str) -> HttpResponse:
    """Replace an assignment's dataset or, for transfer learning, its base."""
    assignment, _ = selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug, instructor=True
    )
    dataset_form, base_form = DatasetUploadForm(), BaseUploadForm()
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "base":
            form = base_form = BaseUploadForm(request.POST, request.FILES)
            service, describe = data_uploads.assignment_base_upload, _base_message
        else:
            form = dataset_form = DatasetUploadForm(request.POST, request.FILES)
            service, describe = data_uploads.assignment_dataset_upload, _data_message
        if form.is_valid():
            field = next(iter(form.fields))
            try:
                assignment = service(
                    assignment=assignment, upload=form.cleaned_data[field]
                )
            except ValidationError as exc:
                add_service_errors(form, exc, field)
            else:
                messages.success(request, describe(assignment))
                return redirect("assignment-data", workshop=workshop, slug=slug)
        status = 400
    return render(
        request,
        "workshops/assignment_data.html",
        {
            "assignment": assignment,
            "workshop": assignment.workshop,
            "summary": data_uploads.assignment_data_summary(assignment=assignment),
            "dataset_form": dataset_form,
            "base_form": base_form,
            "transfer": assignment.kind == assignment.Kind.TRANSFER,
            "instructor": True,
        },
        status=status,
    )


AUTHOR_DEFAULTS = {
    "kind": "mlp",
    "dataset_source": "fashion-mnist",
    "input_shape": "28, 28, 1",
    "num_classes": 10,
    "score_target": 0.9,
    "score_floor": "majority",
    "points": 100,
    "cap_on_failed_check": 50,
    "wall_seconds": 600,
    "cpu_seconds": 1200,
    "memory_mb": 4096,
    "daily_limit": 20,
}


def _author_page(
    request: HttpRequest, workshop, assignment: Assignment | None
) -> HttpResponse:
    editing = assignment is not None
    initial = authored_from_assignment(assignment) if editing else AUTHOR_DEFAULTS
    form = AssignmentAuthorForm(request.POST or None, initial=initial, editing=editing)
    preview, status = None, 200
    if request.method == "POST":
        status = 400
        if request.POST.get("action") == "preview":
            # A preview saves nothing: the text is rendered as the page will be.
            try:
                preview = instructions_preview(request.POST.get("instructions_md", ""))
                status = 200
            except ValidationError as exc:
                add_service_errors(form, exc)
        elif form.is_valid():
            try:
                saved, changes = assignment_author(
                    workshop=workshop,
                    authored=form.authored(),
                    author=request.user,
                    assignment=assignment,
                    slug=form.cleaned_data.get("slug", ""),
                )
            except ValidationError as exc:
                add_service_errors(form, exc, "title")
            else:
                if not editing:
                    messages.success(request, f"Assignment “{saved.title}” created.")
                elif changes and saved.versions.exists():
                    messages.success(
                        request,
                        f"Saved as version {saved.spec_version}: "
                        + " ".join(changes)
                        + " Grades keep the version they were made under; where "
                        "any exist, the regrade offered below grades them anew.",
                    )
                else:
                    messages.success(request, "Assignment saved.")
                return redirect(
                    "assignment-stats", workshop=workshop.slug, slug=saved.slug
                )
    return render(
        request,
        "workshops/assignment_author.html",
        {
            "workshop": workshop,
            "assignment": assignment,
            "form": form,
            "preview": preview,
            "instructor": True,
        },
        status=status,
    )


@login_required
def assignment_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Write a new assignment in the page (instructors of the workshop)."""
    workshop, _ = selectors.workshop_for_member(
        user=request.user, slug=slug, instructor=True
    )
    return _author_page(request, workshop, None)


@login_required
def assignment_edit(request: HttpRequest, workshop: str, slug: str) -> HttpResponse:
    """Edit an assignment; a released one gets a new version."""
    assignment, _ = selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug, instructor=True
    )
    return _author_page(request, assignment.workshop, assignment)


@login_required
def assignment_changes(request: HttpRequest, workshop: str, slug: str) -> HttpResponse:
    """Show participants what each new version of the assignment changed."""
    assignment, _ = selectors.assignment_for_member(
        user=request.user, workshop_slug=workshop, slug=slug
    )
    versions = list(
        assignment.versions.order_by("-number").values(
            "number", "changes", "replaced_at"
        )[:50]
    )
    return render(
        request,
        "workshops/assignment_changes.html",
        {
            "workshop": assignment.workshop,
            "assignment": assignment,
            "versions": [
                {**v, "number": v["number"] + 1, "lines": v["changes"].splitlines()}
                for v in versions
            ],
        },
    )
