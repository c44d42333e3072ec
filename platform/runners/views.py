"""The runner API (`/runner/v1/`): authenticate, bound the body, call one service.

Everything a runner sends is hostile: each body is read under a size bound
and parsed under a nesting bound before any service sees it, and a refusal
answers JSON `{"error": ...}` naming what was wrong. Requests carry the host's
credential (`Authorization: Bearer`), never a cookie, so CSRF does not apply;
file URLs carry their own signature instead.
"""

import hashlib
import io
from collections.abc import Callable
from functools import wraps

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from runners import files, hosts, jobs, results
from runners.kinds import KINDS
from runners.models import Host, HostJob
from runners.refusals import RunnerRefused
from runners.signing import file_url_check
from web.jsonbody import BodyRefused, body_loads

MAX_DEPTH = 8
SMALL_BODY = 16 * 1024
# A result or heartbeat carries logs of at most the job's log limit (4 MiB of
# text at most, see workers.jobspec), which JSON escapes can double.
LOG_BODY = 10 * 1024 * 1024


def _body(request: HttpRequest, limit: int) -> dict:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise RunnerRefused(f"The body is larger than {limit} bytes.", 413)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise RunnerRefused(f"The body is larger than {limit} bytes.", 413)
    try:
        data = body_loads(raw, max_depth=MAX_DEPTH) if raw.strip() else {}
    except BodyRefused as exc:
        raise RunnerRefused(f"The body's JSON was refused: {exc}.") from None
    if not isinstance(data, dict):
        raise RunnerRefused("The body must be a JSON object.")
    return data


def answered(view: Callable) -> Callable:
    """Turn a refusal into its JSON answer."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except RunnerRefused as exc:
            return JsonResponse({"error": str(exc)}, status=exc.status)

    return csrf_exempt(wrapper)


def _host(request: HttpRequest) -> Host:
    return hosts.host_authenticate(
        authorization=request.META.get("HTTP_AUTHORIZATION", "")
    )


@answered
@require_POST
def register(request: HttpRequest) -> JsonResponse:
    host, credential = hosts.host_register(data=_body(request, SMALL_BODY))
    return JsonResponse(
        {
            "host": host.pk,
            "name": host.name,
            "credential": credential,
            "queues": host.queues,
        },
        status=201,
    )


@answered
@require_POST
def claim(request: HttpRequest) -> HttpResponse:
    host = _host(request)
    wait_seconds = jobs.claim_wait_seconds(data=_body(request, SMALL_BODY))
    # A quick ask (before a spare starts) holds no thread, so takes no place.
    with jobs.long_poll_place(wanted=wait_seconds > 0) as may_wait:
        handout = jobs.runner_claim_handout(
            host=host, wait_seconds=wait_seconds if may_wait else 0
        )
    if handout is not None:
        return JsonResponse(handout, status=201)
    if wait_seconds > 0 and not may_wait:
        # Every place to wait is taken: ask again later, not at once.
        return JsonResponse({"job": None, "retry_after": jobs.RETRY_AFTER_SECONDS})
    return HttpResponse(status=204)


@answered
@require_POST
def heartbeat(request: HttpRequest) -> JsonResponse:
    host = _host(request)
    return JsonResponse(jobs.runner_heartbeat(host=host, data=_body(request, LOG_BODY)))


@answered
@require_POST
def upload(request: HttpRequest, job_id: int) -> JsonResponse:
    host = _host(request)
    data = _body(request, SMALL_BODY)
    return JsonResponse(jobs.upload_authorize(host=host, job_id=job_id, data=data))


@answered
@require_POST
def result(request: HttpRequest, job_id: int) -> JsonResponse:
    host = _host(request)
    data = _body(request, LOG_BODY)
    verdict = results.runner_result(host=host, job_id=job_id, data=data)
    return JsonResponse({"job": job_id, "verdict": str(verdict)})


def _url_job(payload: dict) -> HostJob:
    """Return the job a signed URL is for, while its host holds it."""
    host = Host.objects.filter(pk=payload.get("h")).first()
    if host is None or host.revoked_at is not None:
        raise RunnerRefused("The URL's host is unknown or revoked.", 403)
    return jobs.job_held(host=host, job_id=payload.get("j"))


@answered
@require_http_methods(["GET", "PUT"])
def file(request: HttpRequest, token: str) -> HttpResponse:
    """Answer a signed URL: a download (GET) or an upload (PUT).

    A peer that stops sending or reading frees its thread (`stall_bound`).
    """
    files.stall_bound(request.META)
    if request.method == "PUT":
        payload = file_url_check(token=token, purposes=("upload",))
        job = _url_job(payload)
        size, name = payload["n"], payload["f"]
        if request.META.get("CONTENT_LENGTH") != str(size):
            raise RunnerRefused(f"Content-Length: must be exactly {size}.", 411)
        files.upload_store(
            job=job, name=name, size=size, sha256=payload["d"], stream=request
        )
        try:
            jobs.upload_record(
                host=job.host, job_id=job.pk, name=name, size=size, sha256=payload["d"]
            )
        except RunnerRefused:
            # Handed back while it streamed: nothing of it is kept.
            files.upload_forget(job=job, name=name)
            raise
        return JsonResponse({"stored": name, "size": size}, status=201)
    payload = file_url_check(token=token, purposes=("script", "data"))
    job = _url_job(payload)
    kind = KINDS[job.kind]
    if payload["p"] == "script":
        script = kind.script(job).encode("utf-8", "surrogatepass")
        if hashlib.sha256(script).hexdigest() != payload["d"]:
            raise RunnerRefused("The script changed since the URL was made.", 410)
        # Written a block at a time: the stall bound is on each write, and a
        # single write of the whole script would have to finish within it.
        return FileResponse(
            io.BytesIO(script), content_type="text/x-python; charset=utf-8"
        )
    archive, digest = files.archive_for(kind.train_dir(job))
    if digest != payload["d"]:
        raise RunnerRefused("The data changed since the URL was made.", 410)
    return FileResponse(archive.open("rb"), content_type="application/x-tar")
