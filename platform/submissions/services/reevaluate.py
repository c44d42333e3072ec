"""Re-evaluate a chunk of stored models one at a time, each on its own budget.

Each model's result is applied the moment it is ready, so the batch's progress
moves per model. A model that runs out of time or memory, or crashes the grader,
fails alone; a submission that had a grade goes back to it, so a failed regrade
never takes anyone off the leaderboard.
"""

import logging

from django.conf import settings
from django.utils import timezone

from jobs.outcome import JobOutcome
from jobs.placement import (
    chunk_max_models,
    chunk_wall_seconds,
    evaluation_folders,
    evaluation_sandbox,
)
from jobs.spares import (
    evaluation_spare_key,
    evaluation_spare_refill,
    evaluation_spare_take,
)
from jobs.spec import evaluation_spec_build
from submissions.models import Run, Submission
from submissions.services.grading import history_load, report_from_sandbox
from submissions.services.heartbeats import Heartbeat
from submissions.services.jobs import job_apply
from workers.evaluation import grader_limits
from workers.evaluation_each import ModelVerdict, evaluate_each
from workers.outputs import UntrustedOutputError

logger = logging.getLogger(__name__)

Claimed = tuple[Submission, Run, dict]


def _apply(claimed: Claimed, verdict: ModelVerdict) -> None:
    """Record one model's verdict on its run and submission."""
    _, run, inputs = claimed
    report, reason = None, verdict.reason
    if verdict.report is not None:
        try:
            report = report_from_sandbox(verdict.report)
        except UntrustedOutputError as exc:
            reason = f"the grader's report was unusable: {exc}"
    run.finished_at = timezone.now()
    run.outcome = Run.Outcome(verdict.outcome)
    run.duration_seconds = (run.finished_at - run.started_at).total_seconds()
    if reason and report is None:
        run.log = f"[dojo] {reason}"
    # Only these fields: the heartbeat column was written meanwhile.
    run.save(update_fields=["finished_at", "outcome", "duration_seconds", "log"])
    history, note = history_load(path=inputs["history"])

    if report is not None:
        outcome = JobOutcome.graded(report=report, history=history, history_note=note)
    else:
        outcome = JobOutcome.keep_previous(
            reason=reason, participant_fault=verdict.participant_fault
        )
    job_apply(run=run, outcome=outcome)


def chunk_reevaluate(*, claimed: list[Claimed], name: str) -> None:
    """Grade each claimed model in turn; every run beats until its model ends.

    The chunk starts in the slot's warm evaluator when one waits for the same
    hidden split (a regrade's chunks are one assignment's), and leaves one for
    the next chunk or evaluation. The chunk is one job of kind "regrade" whose
    spec lists every model it grades; each round of its sandbox runs within
    that spec and its ending is read back through it. A refused ending stops
    the chunk: the models without a verdict end as the platform's fault.
    """
    by_id = {str(item[0].pk): item for item in claimed}
    # A chunk is not cancelled as a whole; the heartbeat keeps every run alive.
    heartbeat = Heartbeat([run for _, run, _ in claimed], cancellable=False)
    grader = evaluation_sandbox()
    # A chunk is one assignment's: these are the folders its evaluations bind.
    folders = list(
        dict.fromkeys(
            f for *_, inputs in claimed for f in evaluation_folders(inputs=inputs)
        )
    )
    spare_key = evaluation_spare_key(folders=folders, kwargs=grader)
    jobs = [{"id": key, **inputs} for key, (_, _, inputs) in by_id.items()]
    try:
        spec = evaluation_spec_build(
            kind="regrade",
            job_id=f"chunk:{name}",
            jobs=jobs,
            split="hidden",
            limits=grader_limits(
                chunk_wall_seconds(models=len(jobs)),
                grader["memory_bytes"],
                grader["cpus"],
            ),
        )
        evaluate_each(
            jobs,
            work_root=grader["work_root"],
            name=name,
            backend=grader["backend"],
            env=grader["env"],
            startup_seconds=grader["wall_seconds"],
            seconds_per_model=settings.DOJO_EVAL_MODEL_SECONDS,
            memory_bytes=grader["memory_bytes"],
            cpus=grader["cpus"],
            model_cache_bytes=grader["model_cache_bytes"],
            on_verdict=lambda verdict: _apply(by_id[verdict.id], verdict),
            on_log=heartbeat.on_log,
            keep_alive=heartbeat.should_cancel,
            spare=evaluation_spare_take(key=spare_key),
            spare_folders=folders,
            spec=spec,
        )
    except Exception as exc:
        logger.exception("Regrade chunk %s stopped", name)
        for key, item in by_id.items():
            if Run.objects.filter(pk=item[1].pk, finished_at__isnull=True).exists():
                verdict = ModelVerdict(
                    id=key,
                    reason=f"the grader could not run: {exc}",
                    outcome=Run.Outcome.PLATFORM_ERROR,
                )
                _apply(item, verdict)
    finally:
        evaluation_spare_refill(
            key=spare_key,
            folders=folders,
            grader=grader,
            longest_seconds=chunk_wall_seconds(models=chunk_max_models()),
        )
