"""Walk every URL of the site and the API as people who must not get in.

Each URL pattern, with its parameters filled from real objects of workshop 1
(participant A's graded submission, its run, a regrade batch...), is requested
with GET and POST as:

- ``anonymous``: nobody logged in;
- ``classmate``: another participant of the same workshop;
- ``outsider``: a participant of another workshop only;
- ``foreign_instructor``: an instructor of another workshop only.

Each request must be refused (401, 403, 404, 405, or a redirect to a login page)
unless ALLOWED lists the URL for that role, with the reason. A view added later
without a permission check therefore fails here until someone decides, in
writing, who may see it. Every answer that is let through is also searched for
A's secrets: the code, the log, the file name and the private accuracy.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern

from runners.signing import SALT as RUNNER_URL_SALT
from tests.security.walk_marks import (
    PRIVATE_ACCURACY,
    SECRET_CODE,
    SECRET_FILE_NAME,
    SECRET_LOG,
)

pytestmark = pytest.mark.django_db

ANONYMOUS, CLASSMATE, OUTSIDER, FOREIGN = (
    "anonymous",
    "classmate",
    "outsider",
    "foreign_instructor",
)
EVERYONE = frozenset({ANONYMOUS, CLASSMATE, OUTSIDER, FOREIGN})
LOGGED_IN = frozenset({CLASSMATE, OUTSIDER, FOREIGN})
LOGIN_URL_NAMES = {"login", "admin:login"}


@dataclass(frozen=True)
class Allow:
    """Who may get a non-refusal from a URL, and why that is safe."""

    roles: frozenset[str]
    reason: str
    methods: frozenset[str] = field(default=frozenset({"GET", "POST"}))


ALLOWED: dict[str, Allow] = {
    # Public entry points.
    "login": Allow(EVERYONE, "The login form."),
    "signup": Allow(EVERYONE, "The sign-up form."),
    "admin:login": Allow(EVERYONE, "Django admin's login form."),
    "admin:logout": Allow(
        EVERYONE,
        "Non-staff are sent to the admin index, which sends them to its login.",
    ),
    "workshop-join-link": Allow(
        EVERYONE,
        "An invite link: whoever holds the join code sees the workshop's title and "
        "may join it (POST, logged in); nothing of anyone's work.",
    ),
    "api:token": Allow(
        EVERYONE, "Exchanges a username and password for a token; throttled."
    ),
    "api:schema": Allow(EVERYONE, "The OpenAPI schema: documentation, no data."),
    "api:docs": Allow(EVERYONE, "The API docs page: documentation, no data."),
    # Pages about the requester only.
    "home": Allow(LOGGED_IN, "Lists the requester's own workshops."),
    "workshop-join": Allow(LOGGED_IN, "Joins a workshop by its join code."),
    "workshop-create": Allow(
        frozenset({FOREIGN}),
        "Instructors create new workshops, which they then teach; it shows no "
        "other workshop.",
    ),
    "workshop-import": Allow(
        frozenset({FOREIGN}),
        "Instructors import a pack as a new workshop, which they then teach; it "
        "shows no other workshop.",
    ),
    "password_change": Allow(LOGGED_IN, "Changes the requester's own password."),
    "password_change_done": Allow(LOGGED_IN, "A confirmation page, no data."),
    "api-tokens": Allow(
        LOGGED_IN, "Lists and revokes the requester's own API tokens (key prefixes)."
    ),
    "api:workshop-list": Allow(LOGGED_IN, "Lists the requester's own workshops."),
    "api:submission-list": Allow(
        LOGGED_IN, "Lists and creates the requester's own submissions."
    ),
    # Workshop-wide pages every participant of workshop 1 may see.
    "workshop-detail": Allow(
        frozenset({CLASSMATE}), "Participants of the workshop see its page."
    ),
    "assignment-detail": Allow(
        frozenset({CLASSMATE}),
        "Participants see a released assignment and upload their own code there.",
    ),
    "assignment-download": Allow(
        frozenset({CLASSMATE}),
        "Participants download the starter notebook and the training split.",
    ),
    "leaderboard": Allow(
        frozenset({CLASSMATE}),
        "Participants see the leaderboard; private accuracy stays hidden.",
    ),
    "assignment-changes": Allow(
        frozenset({CLASSMATE}),
        "Participants read what each version of a released assignment changed; "
        "no one's work.",
    ),
    "final-mark": Allow(
        frozenset({CLASSMATE}),
        "Participants mark their own submissions final; another's is refused "
        "(tests/platform/test_leaderboard_finals.py).",
        frozenset({"POST"}),
    ),
    "api:workshop-detail": Allow(
        frozenset({CLASSMATE}), "Participants of the workshop see its page."
    ),
    "workshop-note": Allow(
        frozenset({CLASSMATE}),
        "Participants read the workshop's theory notes; their figures come from "
        "reference runs made at load, nobody's submission.",
    ),
    "api:assignment-detail": Allow(
        frozenset({CLASSMATE}), "Participants see a released assignment."
    ),
    "api:leaderboard": Allow(
        frozenset({CLASSMATE}),
        "Participants see the leaderboard; private accuracy stays hidden.",
    ),
    # The workspace: every URL under an assignment reads or writes the
    # requester's own draft and help request, never another participant's.
    **{
        name: Allow(
            frozenset({CLASSMATE}),
            "Reads or writes the requester's own draft (or help request) of an "
            "assignment they can see; another participant's is never addressed.",
        )
        for name in (
            "draft",
            "draft-versions",
            "draft-version",
            "draft-restore",
            "draft-export",
            "draft-import",
            "draft-reset",
            "draft-submit",
            "help-request",
            "help-withdraw",
        )
    },
    "check-start": Allow(
        frozenset({CLASSMATE}),
        "Participants start a check of their own code on an assignment they see "
        "(the walk's empty body is refused with 400); it shows nothing of A's.",
        methods=frozenset({"POST"}),
    ),
    "runner-register": Allow(
        EVERYONE,
        "A runner host exchanges a one-time join token for its credential (the "
        "walk's empty body is refused with 400); it shows nothing of anyone's.",
        methods=frozenset({"POST"}),
    ),
    "api:check-start": Allow(
        frozenset({CLASSMATE}),
        "Participants start a check of their own code on an assignment they see "
        "(the walk's empty body is refused with 400); it shows nothing of A's.",
        methods=frozenset({"POST"}),
    ),
}


@dataclass(frozen=True)
class Endpoint:
    """One URL pattern of the site, with the parts needed to build its URL."""

    name: str | None
    chain: tuple
    callback: object

    @property
    def label(self) -> str:
        return self.name or "".join(str(p.pattern) for p in self.chain)

    @property
    def params(self) -> list[str]:
        names: list[str] = []
        for pattern in self.chain:
            names.extend(pattern.pattern.regex.groupindex)
        return names


def walk(
    resolver: URLResolver | None = None, chain: tuple = (), namespace: str = ""
) -> Iterator[Endpoint]:
    """Yield every URL pattern under the resolver, depth first."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = namespace
            if entry.namespace:
                inner = f"{namespace}{entry.namespace}:"
            yield from walk(entry, (*chain, entry), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else None
            yield Endpoint(name=name, chain=(*chain, entry), callback=entry.callback)


ENDPOINTS = sorted(walk(), key=lambda e: e.label)


def param_values(endpoint: Endpoint, world) -> dict[str, str]:
    """Return a real value for every parameter of the endpoint."""
    workshop = world.workshop.slug
    assignment = world.submission.assignment.slug
    params = endpoint.params
    by_name = {
        "workshop": workshop,
        "workshop_slug": workshop,
        "assignment": assignment,
        "assignment_slug": assignment,
        # A bare slug names the workshop unless a workshop is also in the URL.
        "slug": assignment if "workshop" in params else workshop,
        "pk": world.submission.pk,
        "id": world.submission.pk,
        "submission_id": world.submission.pk,
        "object_id": world.submission.pk,
        "run_id": world.run.pk,
        # A runner job's number (its HostJob): no host holds it for an outsider.
        "job_id": world.run.pk,
        "grade_id": world.grade.pk,
        "batch_id": world.batch.pk,
        "username": world.owner.get_username(),
        "user_id": world.owner.pk,
        "app_label": "submissions",
        "content_type_id": ContentType.objects.get_for_model(world.submission).pk,
        "url": "no-such-page/",
        "code": world.workshop.join_code,
        "what": "train",
        "number": 1,
        "fmt": "py",
        "assignment_id": world.submission.assignment_id,
        "check_id": world.check_run.pk,
        # A theory note of the DL101 pack the walk's workshop is loaded from.
        "note": "neurons",
        # A file URL the site really signed, for a job of A's, naming no host that
        # holds it: signed is not enough.
        "token": signing.dumps(
            {"h": 0, "j": world.run.pk, "p": "script", "d": "0" * 64},
            salt=RUNNER_URL_SALT,
            compress=False,
        ),
    }
    name = endpoint.name or ""
    if name.startswith("regrade-"):
        by_name["pk"] = world.batch.pk
    if name in ("help-take", "help-done", "help-reply"):
        by_name["pk"] = world.help_request.pk
    if name.startswith("admin:auth_user"):
        by_name["id"] = by_name["object_id"] = world.owner.pk
    missing = [p for p in params if p not in by_name]
    assert not missing, (
        f"{endpoint.label}: no value for {missing}; add one to param_values()"
    )
    return {p: str(by_name[p]) for p in params}


def build_url(endpoint: Endpoint, world) -> str:
    """Return a URL that resolves to the endpoint, with real objects in it."""
    values = param_values(endpoint, world)
    if endpoint.name:
        try:
            return reverse(endpoint.name, kwargs=values)
        except NoReverseMatch:
            pass
    parts = []
    for pattern in endpoint.chain:
        text = str(pattern.pattern)
        if isinstance(pattern.pattern, RoutePattern):
            for param in pattern.pattern.regex.groupindex:
                converter = pattern.pattern.converters[param]
                text = _replace_route_param(text, param, values[param], converter)
        else:
            text = _replace_regex_groups(text.lstrip("^").rstrip("$"), values)
        parts.append(text)
    return "/" + "".join(parts)


def _replace_route_param(route: str, param: str, value: str, converter) -> str:
    import re

    return re.sub(rf"<(?:\w+:)?{param}>", value, route)


def _replace_regex_groups(regex: str, values: dict[str, str]) -> str:
    import re

    for param, value in values.items():
        regex = re.sub(rf"\(\?P<{param}>[^)]*\)", value, regex)
    return regex.replace("\\", "")


def is_login_redirect(response) -> bool:
    """Return whether the response sends the visitor to a login page."""
    if response.status_code not in (301, 302, 303, 307, 308):
        return False
    from django.urls import resolve

    path = response["Location"].split("?")[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].split("/", 1)[1]
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return match.view_name in LOGIN_URL_NAMES


def is_refused(response) -> bool:
    return response.status_code in (401, 403, 404, 405) or is_login_redirect(response)


def leaks(response) -> list[str]:
    """Return which of A's secrets the response body shows."""
    body = (
        b"".join(response.streaming_content)
        if response.streaming
        else (response.content)
    )
    text = body.decode("utf-8", "replace")
    secrets = {
        "code": SECRET_CODE,
        "log": SECRET_LOG,
        "file name": SECRET_FILE_NAME,
        "private accuracy": f"{PRIVATE_ACCURACY:.4f}",
        # As pages print it (the pct filter): a bare "63.7" also matches chart
        # coordinates such as "163.7" in an SVG.
        "private accuracy %": f"{PRIVATE_ACCURACY * 100:.1f}%",
    }
    return [what for what, secret in secrets.items() if secret in text]


def request_as(user, method: str, url: str):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(url) if method == "GET" else client.post(url, {})


def refusal_problems(endpoint: Endpoint, url: str, world) -> list[str]:
    """Request the URL as each outsider; return what was let through or leaked."""
    people = {
        ANONYMOUS: None,
        CLASSMATE: world.classmate,
        OUTSIDER: world.outsider,
        FOREIGN: world.foreign_instructor,
    }
    allow = ALLOWED.get(endpoint.name or "")
    problems = []
    for role, user in people.items():
        for method in ("GET", "POST"):
            response = request_as(user, method, url)
            allowed = allow and role in allow.roles and method in allow.methods
            if not allowed and not is_refused(response):
                problems.append(f"{method} as {role}: {response.status_code}")
            if response.status_code < 400 and (found := leaks(response)):
                problems.append(f"{method} as {role} shows A's {', '.join(found)}")
    return problems


def test_allowlist_names_existing_urls():
    """Every ALLOWED entry names a URL that exists, so none outlives its view."""
    names = {e.name for e in ENDPOINTS}
    assert not set(ALLOWED) - names


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.label)
def test_url_refuses_outsiders(endpoint: Endpoint, world):
    """The URL is refused to everyone but whom ALLOWED names, and never leaks."""
    url = build_url(endpoint, world)
    from django.urls import resolve

    assert resolve(url.split("?")[0]).func == endpoint.callback, url
    rightful = [world.owner, world.instructor, world.superuser]
    reached = [request_as(user, "GET", url).status_code for user in rightful]
    assert any(code != 404 for code in reached), (
        f"{url}: 404 even for its owner, instructor and a superuser, so the walk "
        "does not test it; fix param_values() for this URL"
    )
    problems = refusal_problems(endpoint, url, world)
    assert not problems, f"{url} ({endpoint.label}): " + "; ".join(problems)


@pytest.mark.urls("tests.security.leaky_urls")
def test_walk_catches_a_view_without_permission_check(world):
    """A view that forgets its permission check fails the walk."""
    leaky = [
        e
        for e in walk(get_resolver("tests.security.leaky_urls"))
        if e.name == "leaky-code"
    ]
    assert len(leaky) == 1
    url = build_url(leaky[0], world)
    problems = refusal_problems(leaky[0], url, world)
    assert "GET as classmate: 200" in problems
    assert any("shows A's code" in p for p in problems)


WORKSHOP_PAGES = [e for e in ENDPOINTS if e.params == ["slug"]]


@pytest.mark.parametrize("endpoint", WORKSHOP_PAGES, ids=lambda e: e.label)
def test_own_workshop_pages_show_nothing_of_another_workshop(endpoint: Endpoint, world):
    """An instructor (or participant) on a page of their own workshop sees none of
    workshop 1's submissions, not even a running job on a shared host (the hosts
    page showed every workshop's runs); staff see all of them."""
    from django.utils import timezone

    from submissions.models import Run

    Run.objects.filter(pk=world.run.pk).update(
        heartbeat_at=timezone.now(), finished_at=None, host="shared-host"
    )
    own = "/" + build_url(endpoint, world).lstrip("/").replace(
        world.workshop.slug, world.other_workshop.slug, 1
    )
    link = reverse("submission-detail", args=[world.submission.pk])
    for user in (world.foreign_instructor, world.outsider):
        response = request_as(user, "GET", own)
        if response.status_code >= 400 or response.streaming:
            continue
        text = response.content.decode("utf-8", "replace")
        assert not leaks(response), (own, user.username, leaks(response))
        assert link not in text, f"{own} shows workshop 1's job to {user.username}"
    if endpoint.name == "hosts":
        world.foreign_instructor.is_staff = True
        world.foreign_instructor.save()
        staff_view = request_as(world.foreign_instructor, "GET", own)
        assert link in staff_view.content.decode(), "staff see every workshop's jobs"
