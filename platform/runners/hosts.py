"""Join tokens, host registration, credentials and revocation.

A join token (shown once on the hosts page, one use, expiring) becomes a host
credential (shown once to the runner). The site keeps only sha256 digests of
both: both are 32 random bytes, so a digest is as good as a slow hash, and a
lookup by digest needs no scan. Revoking a host refuses its credential at once
and hands its running jobs back to the queue.

A host takes the queues of its join token, less train-gpu when its facts name
no GPU (`host_gpus`): a CPU host made with a token for train-cpu and
train-gpu trains on CPU only, and one made with a token for train-gpu alone
is refused, saying to start the runner with `--gpu`.
"""

import datetime
import hashlib
import json
import re
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.reconcile import jobs_hand_back
from runners.models import RUNNER_QUEUES, Host, JoinToken
from runners.refusals import RunnerRefused
from workers.sandbox import neutralise_json

HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,39}")
MAX_SLOTS = 64
MAX_FACTS_CHARS = 4096
# What a runner may say of its GPUs (`dojo_runner.cli.host_facts`).
MAX_GPUS = 16
GPU_INDEX_TOP = 63
GPU_MEMORY_MB_TOP = 1 << 20
GPU_NAME = re.compile(r"[\w .,:;()+/@-]{0,60}")
JOIN_PREFIX = "dojoj_"
CREDENTIAL_PREFIX = "dojoh_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def join_token_create(
    *, created_by: object, workshop: object | None, queues: list[str]
) -> tuple[JoinToken, str]:
    """Make a one-time join token; return it and its text (shown once)."""
    bad = [queue for queue in queues if queue not in RUNNER_QUEUES]
    if not queues or bad:
        raise RunnerRefused(
            f"queues: choose among {', '.join(RUNNER_QUEUES)} (got {bad or 'none'})."
        )
    secret = JOIN_PREFIX + secrets.token_urlsafe(32)
    token = JoinToken.objects.create(
        token_sha256=_digest(secret),
        queues=sorted(set(queues)),
        workshop=workshop,
        created_by=created_by,
        expires_at=timezone.now()
        + datetime.timedelta(seconds=settings.DOJO_RUNNER_JOIN_SECONDS),
    )
    return token, secret


def _text(value: object, field: str, pattern: re.Pattern) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise RunnerRefused(f"{field}: must match {pattern.pattern}.")
    return value


def _slots(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RunnerRefused("slots: must be a whole number.")
    if not 1 <= value <= MAX_SLOTS:
        raise RunnerRefused(f"slots: must be between 1 and {MAX_SLOTS}.")
    return value


def _whole(value: object, field: str, low: int, top: int, *, none: bool) -> int | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
        also = " or null" if none else ""
        raise RunnerRefused(f"{field}: must be a whole number {low} to {top}{also}.")
    return value


def _gpus(value: object) -> list[dict]:
    """Return the GPUs a host says it has, typed and bounded, or refuse them."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_GPUS:
        raise RunnerRefused(f"facts.gpus: must be a list of at most {MAX_GPUS}.")
    gpus = []
    fields = {"index", "name", "memory_mb", "mps", "slot_memory_mb"}
    for n, gpu in enumerate(value):
        field = f"facts.gpus[{n}]"
        if not isinstance(gpu, dict) or "index" not in gpu or set(gpu) - fields:
            raise RunnerRefused(f"{field}: must be {{{', '.join(sorted(fields))}}}.")
        name = gpu.get("name", "")
        if not isinstance(name, str) or not GPU_NAME.fullmatch(name):
            raise RunnerRefused(f"{field}.name: must match {GPU_NAME.pattern}.")
        mps = gpu.get("mps", False)
        if not isinstance(mps, bool):
            raise RunnerRefused(f"{field}.mps: must be true or false.")
        top = GPU_MEMORY_MB_TOP
        gpus.append(
            {
                "index": _whole(
                    gpu["index"], f"{field}.index", 0, GPU_INDEX_TOP, none=False
                ),
                "name": name,
                "memory_mb": _whole(
                    gpu.get("memory_mb"), f"{field}.memory_mb", 1, top, none=True
                ),
                "mps": mps,
                "slot_memory_mb": _whole(
                    gpu.get("slot_memory_mb"),
                    f"{field}.slot_memory_mb",
                    1,
                    top,
                    none=True,
                ),
            }
        )
    if len({gpu["index"] for gpu in gpus}) < len(gpus):
        raise RunnerRefused("facts.gpus: names a card twice.")
    return gpus


def _facts(value: object) -> dict:
    """Keep what a host says of itself as bounded, neutral JSON (shown only);
    its GPUs, which decide whether it gets train-gpu jobs, typed."""
    if not isinstance(value, dict):
        raise RunnerRefused("facts: must be an object.")
    gpus = _gpus(value.get("gpus"))
    cleaned = {**neutralise_json(value), "gpus": gpus}
    if len(json.dumps(cleaned)) > MAX_FACTS_CHARS:
        raise RunnerRefused(f"facts: must be at most {MAX_FACTS_CHARS} characters.")
    return cleaned


def host_gpus(host: Host) -> list[dict]:
    """Return the GPUs the host said it has when it joined (none: a CPU host).

    Checked again as at registration: a host that joined before GPU facts
    were checked may have stored anything there.
    """
    facts = host.facts if isinstance(host.facts, dict) else {}
    try:
        return _gpus(facts.get("gpus"))
    except RunnerRefused:
        return []


def _host_queues(offered: list[str], gpus: list[dict]) -> list[str]:
    """Return the token's queues this host may take: train-gpu only with a GPU."""
    if gpus:
        return list(offered)
    queues = [queue for queue in offered if queue != "train-gpu"]
    if not queues:
        raise RunnerRefused(
            "queues: this join token is for train-gpu only, and this host said "
            "it has no GPU. Start the runner with --gpu N on a host with card N "
            "(its /dev/nvidiaN), or make a join token for train-cpu or check."
        )
    return queues


def host_register(*, data: dict) -> tuple[Host, str]:
    """Exchange a join token for a host credential; return the host and it."""
    unknown = sorted(set(data) - {"token", "name", "slots", "version", "facts"})
    if unknown:
        raise RunnerRefused(f"{unknown[0]}: is not a field of a registration.")
    secret = data.get("token")
    if not isinstance(secret, str) or not secret.startswith(JOIN_PREFIX):
        raise RunnerRefused("token: is not a join token.", status=403)
    name = _text(data.get("name"), "name", HOST_NAME)
    slots = _slots(data.get("slots", 1))
    version = _text(data.get("version", "0"), "version", VERSION)
    facts = _facts(data.get("facts", {}))
    credential = CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = (
            JoinToken.objects.select_for_update()
            .filter(token_sha256=_digest(secret))
            .first()
        )
        if token is None:
            raise RunnerRefused("token: is not a join token of this site.", 403)
        if token.used_at is not None:
            raise RunnerRefused("token: was used already; make a new one.", 403)
        if token.expires_at <= timezone.now():
            raise RunnerRefused("token: has expired; make a new one.", 403)
        host = Host.objects.create(
            name=name,
            credential_sha256=_digest(credential),
            queues=_host_queues(token.queues, facts["gpus"]),
            workshop=token.workshop,
            created_by=token.created_by,
            version=version,
            slots=slots,
            facts=facts,
            last_heartbeat_at=timezone.now(),
        )
        token.used_at = timezone.now()
        token.host = host
        token.save(update_fields=["used_at", "host"])
    return host, credential


def host_authenticate(*, authorization: str) -> Host:
    """Return the host a request's `Authorization: Bearer` credential names."""
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme != "Bearer" or not credential.startswith(CREDENTIAL_PREFIX):
        raise RunnerRefused("Authorization: send 'Bearer <host credential>'.", 401)
    host = Host.objects.filter(credential_sha256=_digest(credential.strip())).first()
    if host is None:
        raise RunnerRefused("Authorization: not a host credential of this site.", 401)
    if host.revoked_at is not None:
        raise RunnerRefused("Authorization: this host was revoked.", 403)
    return host


def host_revoke(*, host: Host) -> int:
    """Refuse the host's credential from now on; hand its jobs back; say how many."""
    Host.objects.filter(pk=host.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    return jobs_hand_back(worker=host.worker_name)
