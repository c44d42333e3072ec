"""What apps above submissions add to it, registered when they start.

Submissions sit below the workspace, so they never import it: the workspace
registers here, from its AppConfig.ready, what it adds (the drafts that count
against a participant's disk, the draft a submission page names).
"""

from collections.abc import Callable
from typing import Any

DiskCounter = Callable[[int], int]
PageContext = Callable[[Any], dict[str, Any]]

_disk_counters: list[DiskCounter] = []
_page_contexts: list[PageContext] = []


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
