"""How a score reads on a page: one decimal, never more than was earned."""

import math


def score_text(value: float | str | None) -> str:
    """Return a score with one decimal, cut rather than rounded; "—" for none.

    The grader keeps two decimals. Rounded to one, a score of 99.95 read
    "100.0 of 100": a participant saw full marks they did not have, and
    Validate refused a reference that "scored 100.0 of 100 ... must earn full
    marks". Cut, a score reads as full marks only when it is.
    """
    if value is None or value == "":
        return "—"
    # The small slack keeps 99.2 (stored as 99.19999...) from reading 99.1.
    tenths = math.floor(float(value) * 10 + 1e-6)
    return f"{tenths / 10:.1f}"
