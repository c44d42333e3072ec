"""Turn a stored grade report or a sandbox log into what the participant reads."""


def last_error_line(log: str) -> str:
    """Return the last line of a log that the participant's code printed."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if not line.startswith(("[", "W0000", "I0000")):
            return line[:300]
    return ""


def code_error_reason(*, log: str, exit_code: int | None, retry: str) -> str:
    """Say why the participant's code stopped; ``retry`` is "submit" or "check"."""
    last = last_error_line(log)
    if last:
        # The error's own sentence may end with its stop ("... see above.").
        stop = "" if last.endswith((".", "!", "?")) else "."
        return (
            f"Your code stopped with an error: {last}{stop} The log shows where; "
            f"fix it and {retry} again."
        )
    return f"Your code exited with status {exit_code}. See the log."


def class_names_for(spec: dict, count: int) -> list[str]:
    """Return the assignment's class names, or numbers where it has none."""
    names = spec.get("class_names")
    if isinstance(names, list) and len(names) == count:
        return [str(n) for n in names]
    return [str(i) for i in range(count)]


def per_class_rows(values: object, names: list[str]) -> list[dict]:
    """Return (name, accuracy) rows for the per-class table, if well-formed."""
    if not isinstance(values, list) or len(values) != len(names):
        return []
    return [
        {"name": name, "accuracy": float(v)}
        for name, v in zip(names, values, strict=True)
        if isinstance(v, int | float) and 0 <= v <= 1
    ]


def misclassified_definitions(
    items: object, *, vocabulary: list[str], names: list[str]
) -> list[dict]:
    """Return a text model's wrong answers as rows: the definition as read, the
    true and the predicted class. Ids were checked when the grade was stored;
    one past the vocabulary reads as the unknown word."""
    rows = []
    for item in items if isinstance(items, list) else []:
        tokens, true, predicted = (
            item.get("tokens"),
            item.get("true"),
            item.get("predicted"),
        )
        if not isinstance(tokens, list) or not all(
            isinstance(k, int) and 0 <= k < len(names) for k in (true, predicted)
        ):
            continue
        words = [
            vocabulary[t] if isinstance(t, int) and 0 < t < len(vocabulary) else "<unk>"
            for t in tokens
        ]
        rows.append(
            {
                "text": " ".join(words),
                "true": names[true],
                "predicted": names[predicted],
            }
        )
    return rows
