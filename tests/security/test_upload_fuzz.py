"""Hostile uploads never make the site answer 5xx, on the HTML form or the API.

Every upload that cannot be read, compiled or converted is refused with a 400
and a reason; nothing is stored for it.
"""

from __future__ import annotations

import json
import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from submissions.models import Submission
from tests.api.api_builders import token_client

pytestmark = pytest.mark.django_db


def _notebook(cells) -> bytes:
    return json.dumps(
        {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    ).encode()


def _cases() -> list[tuple[str, str, bytes]]:
    rng = random.Random(9)
    cases = [
        (f"random-{n}", "train.py", bytes(rng.getrandbits(8) for _ in range(n)))
        for n in (1, 17, 4096, 200_000)
    ]
    cases += [
        (f"random-nb-{n}", "train.ipynb", bytes(rng.getrandbits(8) for _ in range(n)))
        for n in (3, 5000)
    ]
    cases += [
        ("plus-chain-200k", "train.py", b"x = " + b"1+" * 200_000 + b"1\n"),
        ("deep-parens", "train.py", b"x = " + b"(" * 100_000 + b")" * 100_000),
        ("deep-lists", "train.py", b"x = " + b"[" * 50_000 + b"]" * 50_000),
        (
            "deep-blocks",
            "train.py",
            b"".join(b" " * i + b"if 1:\n" for i in range(200)),
        ),
        ("nul-bytes", "train.py", b"print(1)\x00\nprint(2)\n"),
        ("only-nul", "train.py", b"\x00" * 100),
        (
            "latin1-in-utf8",
            "train.py",
            "print('é')\n".encode() + "# ü\n".encode("latin-1"),
        ),
        ("utf16-bom", "train.py", "print('hi')\n".encode("utf-16")),
        ("utf8-bom", "train.py", b"\xef\xbb\xbfprint('bom')\n"),
        ("lone-surrogate", "train.py", b"x = '\xed\xa0\x80'\n"),
        ("overlong-utf8", "train.py", b"x = '\xc0\xaf'\n"),
        ("null-source-byte", "train.py", b"exec('\\x00')\n"),
        ("huge-int-literal", "train.py", b"x = " + b"9" * 100_000 + b"\n"),
        ("control-chars", "train.py", b"print('\x1b[2J\xe2\x80\xae')\n"),
    ]
    odd_json = [
        b"{}",
        b"[]",
        b"null",
        b"42",
        b'"a string"',
        b'{"cells": 5}',
        b'{"cells": null, "nbformat": 4}',
        b'{"cells": [5, "x", null], "nbformat": 4, "nbformat_minor": 5}',
        b'{"nbformat": "four", "cells": []}',
        b'{"nbformat": 99, "nbformat_minor": 99, "cells": [], "metadata": {}}',
        b'{"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "code"}]}]}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
        b'{"cells": [], "nbformat": 4, "nbformat_minor": NaN, "metadata": {}}',
        b'{"cells": [], "cells": {}, "nbformat": 4}',
        b'{"cells": [{"cell_type": "code", "source": 1e999}], "nbformat": 4}',
        _notebook([{"cell_type": "code", "source": None, "metadata": {}}]),
        _notebook([{"cell_type": "code", "source": {"a": 1}, "metadata": {}}]),
        _notebook([{"cell_type": "code", "source": ["print(1)\u0000"]}]),
        _notebook([{"cell_type": "code", "source": "x = " + "1+" * 100_000 + "1"}]),
        _notebook([{"cell_type": "raw", "source": "\ud800"}]),
        _notebook([{"cell_type": "weird", "source": "print(1)"}]),
        _notebook([{"cell_type": "code", "source": "!rm -rf /", "metadata": {}}]),
        b'{"cells": [\xff\xfe]}',
    ]
    cases += [(f"odd-json-{i}", "train.ipynb", raw) for i, raw in enumerate(odd_json)]
    return cases


CASES = _cases()


def _check(response, case: str) -> str | None:
    if response.status_code >= 500:
        return f"{case}: {response.status_code}"
    return None


def test_html_upload_form_never_answers_5xx(participant, workshop) -> None:
    """Random bytes, deep nesting, NUL, mixed encodings and odd notebook JSON
    posted to the submit page are all answered below 500, refusals with 400."""
    client = Client(raise_request_exception=False)
    client.force_login(participant)
    url = workshop.assignments.get(slug="mlp").get_absolute_url()
    failures = []
    for case, name, raw in CASES:
        response = client.post(url, {"file": SimpleUploadedFile(name, raw)})
        failures.append(_check(response, case))
        if response.status_code == 400:
            assert b"errorlist" in response.content or b"error" in response.content
    assert [f for f in failures if f] == []


def test_api_upload_never_answers_5xx(participant, workshop) -> None:
    """The same uploads through the API: each is a 400 with a detail, or a 201."""
    client = token_client(participant)
    client.raise_request_exception = False
    url = reverse("api:submission-list")
    failures = []
    for case, name, raw in CASES:
        response = client.post(
            url,
            {
                "workshop": "dl101",
                "assignment": "mlp",
                "file": SimpleUploadedFile(name, raw),
            },
            format="multipart",
        )
        failures.append(_check(response, case))
        if response.status_code == 400:
            assert response.json()["detail"], case
    assert [f for f in failures if f] == []


def test_uncompilable_uploads_are_refused_with_a_reason(participant, workshop) -> None:
    """compile() raising RecursionError/MemoryError, NUL bytes and unreadable
    notebooks each become a 400 naming what to fix; nothing is stored."""
    client = token_client(participant)
    url = reverse("api:submission-list")
    expected = {
        "plus-chain-200k": "nested too deeply or is too long",
        "nul-bytes": "U+0000 on line 1",
        "utf16-bom": "not UTF-8",
        "odd-json-0": "Jupyter notebook",
    }
    raw = dict((case, (name, body)) for case, name, body in CASES)
    for case, reason in expected.items():
        name, body = raw[case]
        response = client.post(
            url,
            {
                "workshop": "dl101",
                "assignment": "mlp",
                "file": SimpleUploadedFile(name, body),
            },
            format="multipart",
        )
        assert response.status_code == 400, (case, response.content)
        assert reason in response.json()["detail"], (case, response.json())
    assert not Submission.objects.exists()


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return buffer.getvalue()


INSTRUCTOR_CASES = [
    ("random", bytes(random.Random(3).getrandbits(8) for _ in range(5000))),
    ("nul", b"\x00" * 512),
    ("empty-zip", _zip({})),
    ("npy-garbage", _zip({"x.npy": b"\x93NUMPY garbage", "y.npy": b"\x00" * 64})),
    ("pickled-object", _zip({"x.npy": b"\x93NUMPY\x01\x00v\x00{'descr': '|O'"})),
    ("config-odd-json", _zip({"config.json": b"[" * 50_000 + b"]" * 50_000})),
    ("config-nul", _zip({"config.json": b'{"class_name": "\x00"}'})),
    ("config-not-json", _zip({"config.json": b"\xff\xfe", "metadata.json": b"{}"})),
]


def test_instructor_uploads_never_answer_5xx(instructor, workshop) -> None:
    """Hostile dataset (.npz) and base (.keras) uploads on the instructor's data
    page are answered below 500."""
    client = Client(raise_request_exception=False)
    client.force_login(instructor)
    url = reverse("assignment-data", args=[workshop.slug, "transfer"])
    failures = []
    for case, raw in INSTRUCTOR_CASES:
        for action, name in (("dataset", "d.npz"), ("base", "b.keras")):
            response = client.post(
                url, {"action": action, action: SimpleUploadedFile(name, raw)}
            )
            failures.append(_check(response, f"{action}-{case}"))
    assert [f for f in failures if f] == []
