"""Turn a stored grade report into what the grade page shows, checking it."""


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
