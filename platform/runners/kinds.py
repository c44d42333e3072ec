"""What differs between the kinds of job a runner host takes: a submission's
training and a check run's training.

Each kind says which of its jobs wait, how one is claimed (through its own
one claim: the job token, the attempt count), whether a host still holds it,
what script and training data it runs, how a beat and a result are written,
and how the platform's failure ends it. The runner API (`runners.jobs`,
`runners.results`, `runners.views`) is written once over these; the
reconciler, the retry policy and the appliers are the job framework's.
"""

from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from checks.data import check_data_prepare
from checks.execution import CHECK, CheckLog
from checks.hosted import (
    check_host_beat,
    check_host_claim,
    check_host_holds,
    check_host_record,
    check_host_settle,
)
from checks.models import CheckRun, CheckStatus
from jobs.apply import job_apply
from jobs.outcome import JobOutcome
from jobs.queues import JobQueue
from runners.hosts import host_gpus
from runners.models import Host, HostJob
from submissions.artifacts import ARTIFACT_MAX_BYTES, HISTORY_MAX_BYTES
from submissions.models import Run, Status, Submission
from submissions.services.execution import (
    training_code,
    training_record,
    training_settle,
    training_spec,
)
from submissions.services.jobs import job_apply as run_apply
from submissions.services.jobs import job_claim, job_platform_error
from workers import sandbox
from workshops import folders

# What a runner may give back, and the most bytes of each.
RETURNS = {"model.keras": ARTIFACT_MAX_BYTES, "history.json": HISTORY_MAX_BYTES}


class HostedKind(Protocol):
    """A kind of job a runner host may take."""

    name: str

    def serves(self, host: Host) -> bool: ...
    def waiting(self, host: Host) -> QuerySet: ...  # (pk, token), oldest first
    def claim(self, host: Host, pk: int, token: str) -> HostJob | None: ...
    def held(self) -> Q: ...  # HostJobs whose job the host still holds
    def holds(self, job: HostJob) -> bool: ...  # the same, for one loaded job
    def script(self, job: HostJob) -> str: ...
    def train_dir(self, job: HostJob) -> Path: ...
    def beat(self, job: HostJob, log: str | None) -> bool: ...  # cancel asked?
    def settle(
        self,
        job: HostJob,
        result: sandbox.SandboxResult,
        output: Path,
        device: sandbox.DeviceReport | None,
        isolation: str,
    ) -> str: ...  # the verdict, applied
    def record(
        self,
        job: HostJob,
        result: sandbox.SandboxResult,
        device: sandbox.DeviceReport | None,
        isolation: str,
    ) -> str: ...  # the same, while the model waits to be taken (`pending`)
    def attempts(self, job: HostJob) -> int: ...  # claims its training used
    def fail(self, job: HostJob, exc: Exception) -> None: ...
    def label(self, job: HostJob) -> dict: ...  # for the hosts page
    def on_gpu(self, job: HostJob) -> bool: ...  # placed on the host's card?


def _in_scope(host: Host, rows: QuerySet, workshop_field: str) -> QuerySet:
    if host.workshop_id is not None:
        rows = rows.filter(**{workshop_field: host.workshop_id})
    return rows


class Trainings:
    """Submissions' trainings on train-cpu / train-gpu."""

    name = HostJob.Kind.TRAIN

    def _queues(self, host: Host) -> list[str]:
        # A host that said it has no GPU never trains a GPU assignment (one
        # joined before its facts were checked may still list train-gpu).
        return [
            q.removeprefix("train-")
            for q in host.queues
            if q.startswith("train-")
            and (q != JobQueue.TRAIN_GPU or bool(host_gpus(host)))
        ]

    def serves(self, host: Host) -> bool:
        return bool(self._queues(host))

    def waiting(self, host: Host) -> QuerySet:
        rows = Submission.objects.filter(
            status=Status.QUEUED,
            enqueued_at__isnull=False,
            cancel_requested=False,
            assignment__queue__in=self._queues(host),
        )
        rows = _in_scope(host, rows, "assignment__workshop_id")
        return rows.order_by("enqueued_at", "pk").values_list("pk", "job_token")

    def claim(self, host: Host, pk: int, token: str) -> HostJob | None:
        queue = Submission.objects.get(pk=pk).assignment.train_queue
        run = job_claim(
            submission_id=pk,
            job_token=token,
            kind=Run.Kind.TRAIN,
            expect=Status.QUEUED,
            worker=host.worker_name,
            queue=queue,
        )
        if run is None:
            return None
        try:
            spec = training_spec(
                run=run,
                code=training_code(submission=run.submission),
                returns=tuple(RETURNS),
            )
            return HostJob.objects.create(
                host=host,
                kind=self.name,
                run=run,
                token=run.job_token,
                spec=spec.to_dict(),
            )
        except Exception as exc:
            job_platform_error(run=run, exc=exc)
            return None

    def held(self) -> Q:
        return Q(kind=self.name, run__finished_at__isnull=True)

    def holds(self, job: HostJob) -> bool:
        run = job.run
        return (
            run.finished_at is None
            and run.job_token == run.submission.job_token
            and run.submission.status == Status.TRAINING
        )

    def script(self, job: HostJob) -> str:
        return training_code(submission=job.run.submission)

    def train_dir(self, job: HostJob) -> Path:
        return folders.assignment_train_dir(job.run.submission.assignment_id)

    def beat(self, job: HostJob, log: str | None) -> bool:
        fields = {"heartbeat_at": timezone.now()}
        if log is not None:
            fields["log"] = sandbox.neutralise(log)
        Run.objects.filter(pk=job.run_id, finished_at__isnull=True).update(**fields)
        return job.run.submission.cancel_requested

    def settle(self, job, result, output, device, isolation) -> str:
        run = job.run
        self._isolation(job, isolation)
        outcome = training_settle(
            run=run,
            result=result,
            output=output,
            limits=result.limits,
            device=device,
        )
        run_apply(run=run, outcome=outcome)
        return outcome.verdict

    def record(self, job, result, device, isolation) -> str:
        # The evaluation's worker keeps the model first (`runners.settle`).
        run = job.run
        self._isolation(job, isolation)
        training_record(run=run, result=result, device=device)
        outcome = JobOutcome.trained()
        run_apply(run=run, outcome=outcome)
        return outcome.verdict

    def attempts(self, job: HostJob) -> int:
        return job.run.submission.attempts

    def _isolation(self, job: HostJob, isolation: str) -> None:
        # What the host says of its sandbox: shown on the hosts page, as said.
        run = job.run
        run.isolation = sandbox.neutralise(f"runner {job.host.name}: {isolation}")
        run.isolation = run.isolation[:200]
        run.save(update_fields=["isolation"])

    def fail(self, job: HostJob, exc: Exception) -> None:
        job_platform_error(run=job.run, exc=exc)

    def label(self, job: HostJob) -> dict:
        return {"kind": "submission", "pk": job.run.submission_id}

    def on_gpu(self, job: HostJob) -> bool:
        return job.run.queue == JobQueue.TRAIN_GPU


class Checks:
    """Check runs' trainings on the check queue; the site checks the model."""

    name = HostJob.Kind.CHECK

    def serves(self, host: Host) -> bool:
        return "check" in host.queues

    def waiting(self, host: Host) -> QuerySet:
        rows = CheckRun.objects.filter(
            status=CheckStatus.QUEUED, enqueued_at__isnull=False
        )
        rows = _in_scope(host, rows, "assignment__workshop_id")
        return rows.order_by("enqueued_at", "pk").values_list("pk", "job_token")

    def claim(self, host: Host, pk: int, token: str) -> HostJob | None:
        hosted = check_host_claim(check_id=pk, job_token=token, worker=host.worker_name)
        if hosted is None:
            return None
        try:
            return HostJob.objects.create(
                host=host,
                kind=self.name,
                check_run=hosted.check,
                token=hosted.check.job_token,
                spec=hosted.spec.to_dict(),
                log_head=hosted.head,
            )
        except Exception as exc:
            _check_error(hosted.check, hosted.head, exc)
            return None

    def held(self) -> Q:
        return Q(
            kind=self.name,
            check_run__status=CheckStatus.RUNNING,
            check_run__job_token=F("token"),
        )

    def holds(self, job: HostJob) -> bool:
        return check_host_holds(check=job.check_run, job_token=str(job.token))

    def script(self, job: HostJob) -> str:
        return job.check_run.source

    def train_dir(self, job: HostJob) -> Path:
        return check_data_prepare(assignment_id=job.check_run.assignment_id).train_dir

    def beat(self, job: HostJob, log: str | None) -> bool:
        check_host_beat(check=job.check_run, head=job.log_head, log=log)
        # A check is cancelled by ending it (replaced, say): the host no
        # longer holds it, and its beat is answered with cancel then.
        return False

    def settle(self, job, result, output, device, isolation) -> str:
        return check_host_settle(
            check=job.check_run,
            head=job.log_head,
            result=result,
            output=output,
            max_bytes=result.limits.work_dir_bytes,
        )

    def record(self, job, result, device, isolation) -> str:
        # The site's check worker keeps the model first (`runners.settle`).
        return check_host_record(check=job.check_run, head=job.log_head, result=result)

    def attempts(self, job: HostJob) -> int:
        return job.check_run.attempts

    def fail(self, job: HostJob, exc: Exception) -> None:
        _check_error(job.check_run, job.log_head, exc)

    def label(self, job: HostJob) -> dict:
        return {"kind": "check", "pk": job.check_run_id}

    def on_gpu(self, job: HostJob) -> bool:
        # As on the site's GPU worker: a check trains off the card.
        return False


def _check_error(check: CheckRun, head: str, exc: Exception) -> None:
    """End a check the platform failed on its way to or from a host `error`."""
    log = CheckLog(check, head=(head,))
    job_apply(kind=CHECK, job=log, outcome=JobOutcome.error(detail=exc))


# Checks first: they are short, and a participant waits at the editor.
KINDS: dict[str, HostedKind] = {kind.name: kind for kind in (Checks(), Trainings())}


def host_jobs_held(host: Host | None = None) -> QuerySet:
    """Return the HostJobs whose jobs their hosts still hold (result not sent)."""
    held = Q()
    for kind in KINDS.values():
        held |= kind.held()
    rows = HostJob.objects.filter(held, result_at__isnull=True)
    return rows if host is None else rows.filter(host=host)


def host_can_train(host: Host) -> bool:
    """Say whether the host has the site's Keras backend (as it reported)."""
    backends = host.facts.get("keras_backends")
    return not isinstance(backends, list) or settings.DOJO_KERAS_BACKEND in backends
