"""What apps above submissions add to it, registered when they start.

Submissions sit below the workspace, so they never import it: the workspace
registers here, from its AppConfig.ready, what it adds (the drafts that count
against a participant's disk, the draft a submission page names). Runner hosts
register how a model they trained is taken onto the site's disk before its
evaluation (`model_settle`), and how their uploads that no job needs any more
are swept with the jobs' work dirs (`sweeper_register`).
"""

from collections.abc import Callable
from typing import Any

DiskCounter = Callable[[int], int]
PageContext = Callable[[Any], dict[str, Any]]
# settler(submission=...) -> why the model was not kept ("" when kept or none
# waited); raises jobs.reconcile.TrainingHandBack when the fault is the
# platform's.
ModelSettler = Callable[..., str]
# sweeper() -> counts of what it removed, added to the sweep's own.
Sweeper = Callable[[], dict[str, int]]

_disk_counters: list[DiskCounter] = []
_page_contexts: list[PageContext] = []
_model_settlers: list[ModelSettler] = []
_sweepers: list[Sweeper] = []


def disk_counter_register(counter: DiskCounter) -> None:
    """Count ``counter(participant_id)`` bytes in each participant's disk use."""
    if counter not in _disk_counters:
        _disk_counters.append(counter)


def disk_counters() -> tuple[DiskCounter, ...]:
    return tuple(_disk_counters)


def page_context_register(context: PageContext) -> None:
    """Add ``context(submission)`` to the submission page's template context."""
    if context not in _page_contexts:
        _page_contexts.append(context)


def page_contexts() -> tuple[PageContext, ...]:
    return tuple(_page_contexts)


def model_settler_register(settler: ModelSettler) -> None:
    """Run ``settler(submission=...)`` before a submission's evaluation."""
    if settler not in _model_settlers:
        _model_settlers.append(settler)


def model_settle(*, submission: Any) -> str:
    """Take a model that waits to be kept; return why it was not ("" if kept)."""
    for settler in _model_settlers:
        refused = settler(submission=submission)
        if refused:
            return refused
    return ""


def sweeper_register(sweeper: Sweeper) -> None:
    """Run ``sweeper()`` on each sweep of what jobs left on disk."""
    if sweeper not in _sweepers:
        _sweepers.append(sweeper)


def sweepers() -> tuple[Sweeper, ...]:
    return tuple(_sweepers)
