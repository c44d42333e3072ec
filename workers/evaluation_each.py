"""Grade a chunk of models one at a time, each with its own budget (no Django).

TensorFlow still starts once per sandbox, but the grader writes each report
the moment it is ready (`--progress`), so:

- each result reaches the caller as its model finishes;
- each model has its own time budget: the clock restarts at every report, and a
  model that overruns it stops the sandbox;
- a model that runs out of time or memory, or crashes the grader, is the first
  one without a report: it fails alone, and a new sandbox grades the rest.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader import MODEL_CACHE_BYTES, REPORT_FILE_MAX_BYTES
from workers import outputs, sandbox
from workers.evaluation import (
    died_on_model,
    progress_dir,
    run_grader,
    unreadable_report,
)
from workers.jobspec import JobSpec

# Restarts after a crash that blamed nobody (the grader could not start at all).
MAX_BLAMELESS_ROUNDS = 1


@dataclass(frozen=True)
class ModelVerdict:
    """The end of one model's grading: a report, or why there is none."""

    id: str
    report: Mapping | None = None
    participant_fault: bool = False
    reason: str = ""
    outcome: str = "ok"


def _fault(outcome: sandbox.Outcome, exit_code: int | None) -> tuple[bool, str]:
    if outcome == sandbox.Outcome.KILLED_MEMORY:
        return True, (
            "Grading your model ran out of memory. Make the model smaller (fewer "
            "or narrower layers) and submit again."
        )
    if outcome == sandbox.Outcome.TIMED_OUT:
        return True, (
            "Grading your model ran out of time. Make the model smaller or faster "
            "and submit again."
        )
    return False, (
        f"the grader stopped while grading this model ({outcome}, exit {exit_code})"
    )


def progress_report_read(path: Path, model_id: str) -> ModelVerdict:
    """Return the verdict a progress file holds for the model ``model_id``.

    The grader had started on that model: a report it could not keep small or
    well-formed came from that model, so the model fails, counted.
    """
    try:
        data = outputs.loads_bounded(
            outputs.read_bounded(path, max_bytes=REPORT_FILE_MAX_BYTES)
        )
    except outputs.UntrustedOutputError as exc:
        problem = f"{path.name} {exc}"
    else:
        if isinstance(data, dict):
            key = outputs.clean_text(data.get("id"), limit=64)
            return ModelVerdict(id=key, report=data)
        problem = f"{path.name} is not a report"
    return ModelVerdict(
        id=model_id, participant_fault=True, reason=unreadable_report(problem)
    )


class _Progress:
    """Collect reports as they appear and time the model now being graded."""

    def __init__(
        self,
        folder: Path,
        pending: list[str],
        *,
        first_seconds: float,
        seconds_per_model: float,
        on_verdict: Callable[[ModelVerdict], None],
        keep_alive: Callable[[], bool] | None,
    ) -> None:
        self.folder = folder
        self.pending = pending
        self.order = list(pending)
        self.seconds_per_model = seconds_per_model
        self.on_verdict = on_verdict
        self.keep_alive = keep_alive
        self.deadline = time.monotonic() + first_seconds
        self.seen = 0
        self.overran = False
        self.cancelled = False

    def collect(self) -> int:
        """Pass on each new report; return how many arrived."""
        arrived = 0
        while True:
            path = self.folder / f"{self.seen:06d}.json"
            if not path.is_file() or path.is_symlink():
                return arrived
            # The n-th report is the round's n-th model's (the grader's order).
            nth = self.order[self.seen] if self.seen < len(self.order) else ""
            verdict = progress_report_read(path, nth)
            self.seen += 1
            arrived += 1
            self.deadline = time.monotonic() + self.seconds_per_model
            if verdict.id in self.pending:
                self.pending.remove(verdict.id)
                self.on_verdict(verdict)

    def should_stop(self) -> bool:
        """Called by the sandbox supervisor a few times a second."""
        self.collect()
        if self.keep_alive is not None and self.keep_alive():
            self.cancelled = True
            return True
        if self.pending and time.monotonic() > self.deadline:
            self.overran = True
            return True
        return False


def round_wall_seconds(
    *, startup_seconds: float, seconds_per_model: float, models: int
) -> int:
    """Return the sandbox's wall budget for one round over ``models`` models.

    Only a backstop: each model's own budget is kept by the progress clock.
    """
    return int(startup_seconds + seconds_per_model * models) + 1


def evaluate_each(
    jobs: Sequence[Mapping],
    *,
    work_root: Path,
    name: str,
    backend: str,
    env: Mapping[str, str],
    startup_seconds: float,
    seconds_per_model: float,
    memory_bytes: int,
    cpus: float = 0,
    model_cache_bytes: int = MODEL_CACHE_BYTES,
    on_verdict: Callable[[ModelVerdict], None],
    on_log: Callable[[str], None] | None = None,
    keep_alive: Callable[[], bool] | None = None,
    spare: sandbox.Spare | None = None,
    spare_folders: Sequence[str] = (),
    spec: JobSpec | None = None,
) -> list[str]:
    """Grade each job's model, calling `on_verdict` once per model as it ends.

    `keep_alive` is polled a few times a second (heartbeats go there); when it
    returns True the chunk stops. Return the ids left ungraded (only after such
    a stop).

    `spare`: a warm evaluator (``evaluator_spare`` with ``spare_folders`` and a
    ``longest_seconds`` of at least ``round_wall_seconds`` for this chunk) for the
    first round; one that does not fit is discarded. Later rounds, after a model
    stopped the sandbox, start cold.

    `spec`: the chunk's spec, sized for every model: each round runs within it
    and its ending is read back through it (``run_grader``). A refused ending
    raises ``JobSpecError``: the models without a verdict are the caller's to
    end, as the platform's fault.
    """
    by_id = {str(job["id"]): job for job in jobs}
    pending = list(by_id)
    blameless = 0
    round_no = 0
    while pending:
        round_no += 1
        warm, spare = spare, None
        round_name = warm.work_dir.name if warm is not None else f"{name}-r{round_no}"
        progress = _Progress(
            progress_dir(work_root, round_name),
            pending,
            first_seconds=startup_seconds + seconds_per_model,
            seconds_per_model=seconds_per_model,
            on_verdict=on_verdict,
            keep_alive=keep_alive,
        )
        before = len(pending)
        result, _, _, touched = run_grader(
            [by_id[key] for key in pending],
            work_root=work_root,
            name=round_name,
            backend=backend,
            env=env,
            wall_seconds=round_wall_seconds(
                startup_seconds=startup_seconds,
                seconds_per_model=seconds_per_model,
                models=before,
            ),
            memory_bytes=memory_bytes,
            cpus=cpus,
            model_cache_bytes=model_cache_bytes,
            on_log=on_log,
            should_cancel=progress.should_stop,
            on_done=progress.collect,
            spare=warm,
            spare_folders=spare_folders if warm is not None else (),
            spec=spec,
        )
        if not pending or progress.cancelled:
            return pending
        culprit = pending[0]
        graded_some = len(pending) < before
        if progress.overran:
            fault, reason = _fault(sandbox.Outcome.TIMED_OUT, None)
            outcome = str(sandbox.Outcome.TIMED_OUT)
        elif result.outcome != sandbox.Outcome.KILLED_MEMORY and touched == culprit:
            # The grader died once it had started on this model: the model did it.
            fault, reason = True, died_on_model(result)
            outcome = str(result.outcome)
        elif result.outcome == sandbox.Outcome.KILLED_MEMORY or graded_some:
            fault, reason = _fault(result.outcome, result.exit_code)
            outcome = str(result.outcome)
        elif blameless < MAX_BLAMELESS_ROUNDS:
            # Nothing came out and no model is to blame yet: try once more.
            blameless += 1
            continue
        else:
            # The grader cannot start: the platform's fault, for every model.
            tail = result.log.strip().splitlines()[-1:] or [str(result.outcome)]
            for key in list(pending):
                pending.remove(key)
                on_verdict(
                    ModelVerdict(
                        id=key,
                        reason=f"the grader stopped: {tail[0][:200]}",
                        outcome=str(result.outcome),
                    )
                )
            return []
        pending.remove(culprit)
        on_verdict(
            ModelVerdict(
                id=culprit, participant_fault=fault, reason=reason, outcome=outcome
            )
        )
    return pending
