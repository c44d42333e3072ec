"""The progress matrix's and the leaderboard's rows as HTML, built in Python.

Up to 300 rows are drawn per request; Django's template engine spends a good
fraction of a millisecond per row on them (bench/pages.py), string building a
tenth of that. Every text is escaped, as the template would.
"""

from html import escape

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime

from web.scores import score_text

MARKS = {"running": "…", "failed": "✗", "not-started": "·"}


def _cell(cell: dict, link: str = "") -> str:
    mark = cell["text"] or MARKS.get(cell["status"], "")
    tries = f' <small class="tries">{cell["tries"]}</small>' if cell["tries"] else ""
    title = escape(cell["title"])
    inner = (
        f'<span class="visually-hidden">{title}</span>'
        f'<span aria-hidden="true">{mark}{tries}</span>'
    )
    if link:
        # The cell opens the participant's workspace (draft, history, check run).
        hint = '<span class="visually-hidden">, open workspace</span>'
        inner = f'<a href="{link}">{inner}{hint}</a>'
    return f'<td class="cell {cell["status"]}" title="{title}">{inner}</td>'


def matrix_body(rows: list[dict], links: list[str] | None = None) -> SafeString:
    """Return the table rows: a header cell per participant, then their cells.

    ``links`` holds, per assignment column, a workspace URL with ``{}`` where the
    participant's id goes.
    """
    links = links or []
    return mark_safe(
        "\n".join(
            f'<tr><th scope="row">{escape(row["username"])}</th>'
            + "".join(
                _cell(c, links[i].format(row["user_id"]) if i < len(links) else "")
                for i, c in enumerate(row["cells"])
            )
            + "</tr>"
            for row in rows
        )
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def board_body(
    board: list[dict],
    *,
    show_private: bool,
    instructor: bool,
    viewer_id: int | None,
    part: str = "public",
) -> SafeString:
    """Return the leaderboard's rows (the same cells as its template had).

    The ranked part's accuracy comes first; on the public ranking an
    instructor also sees each participant's private accuracy (``show_private``).
    """
    link = reverse("submission-detail", kwargs={"pk": 0}).replace("/0/", "/{}/")
    rows = []
    for e in board:
        name = escape(e["username"])
        if instructor:
            name = f'<a href="{link.format(e["submission_id"])}">{name}</a>'
        mine = e["participant_id"] == viewer_id
        me = ' class="me"' if mine else ""
        badge = "passed" if e["passed_checks"] else "failed"
        ranked = e["private_accuracy"] if part == "private" else e["public_accuracy"]
        private = (
            f'<td class="num">{_pct(e["private_accuracy"])}</td>'
            if show_private and part == "public"
            else ""
        )
        score = score_text(e["score"])
        when = e["submitted_at"]
        rows.append(
            f"<tr{me}>"
            f'<td class="num">{e["rank"]}</td>'
            f"<td>{name}{' (you)' if mine else ''}</td>"
            f'<td class="num"><strong>{_pct(ranked)}</strong></td>{private}'
            f'<td class="num">{score}</td>'
            f'<td><span class="badge {badge}">{badge}</span></td>'
            f'<td class="muted">{localtime(when).strftime("%H:%M") if when else ""}'
            "</td></tr>"
        )
    return mark_safe("\n".join(rows))
