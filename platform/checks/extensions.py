"""What apps above checks add to a check run, registered from their AppConfig.ready.

Checks sit below runner hosts, so they never import them: runner hosts
register how a model they trained for a check is taken onto the site's disk
before the site's grader checks it (`model_settle`), as they do for a
submission's evaluation (`submissions.extensions`).
"""

from collections.abc import Callable
from typing import Any

# settler(check=...) -> why the model was not kept ("" when kept or none
# waited); raises jobs.reconcile.TrainingHandBack when the fault is the
# host's, never the participant's.
ModelSettler = Callable[..., str]

_model_settlers: list[ModelSettler] = []


def model_settler_register(settler: ModelSettler) -> None:
    """Run ``settler(check=...)`` before a check's model is checked."""
    if settler not in _model_settlers:
        _model_settlers.append(settler)


def model_settle(*, check: Any) -> str:
    """Take a model that waits to be kept; return why it was not ("" if kept)."""
    for settler in _model_settlers:
        refused = settler(check=check)
        if refused:
            return refused
    return ""
