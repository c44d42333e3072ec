"""Hostile JSON bodies never make any endpoint answer 5xx.

Every URL pattern of the site and the API (found by the same walk as
test_url_walk) gets POSTs whose body is JSON nested 50,000 levels deep, NaN,
a bare array, text that is not UTF-8, wrong types and a large string, sent by
the people who may use it (the owner and the instructor). Each answer must be
below 500: bad input is the sender's, and says so with a 4xx.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.security.test_url_walk import ENDPOINTS, build_url

pytestmark = pytest.mark.django_db

BODIES = {
    "deep-array": b"[" * 50_000 + b"]" * 50_000,
    "deep-object": b'{"pixels": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}",
    "nan": b'{"pixels": NaN, "source": NaN, "username": NaN}',
    "bare-array": b"[1, 2, 3]",
    "not-utf8": b'{"pixels": "\xff\xfe"}',
    "wrong-types": b'{"pixels": [1], "source": {"a": 1}, "username": [], '
    b'"password": 5, "version": "x", "text": null}',
    "large-string": b'{"pixels": "' + b"A" * 300_000 + b'"}',
}

# POSTs that end the session the fuzzing uses.
SKIP = {"logout", "admin:logout"}
REFUSED = (401, 403, 404, 405)


def test_hostile_json_never_gets_a_5xx(world) -> None:
    """Every endpoint, as the first of owner and instructor it does not refuse,
    answers every hostile body below 500. (One test: the world is built once.)"""
    problems = []
    owner, instructor = Client(), Client()
    owner.force_login(world.owner)
    instructor.force_login(world.instructor)
    for endpoint in ENDPOINTS:
        if (endpoint.name or "") in SKIP:
            continue
        url = build_url(endpoint, world)
        for client in (owner, instructor):
            codes = {
                name: client.post(
                    url, body, content_type="application/json"
                ).status_code
                for name, body in BODIES.items()
            }
            problems += [
                f"{url} {name}: {code}" for name, code in codes.items() if code >= 500
            ]
            if not set(codes.values()) <= set(REFUSED):
                break  # this user may use it: fuzzed
    assert not problems, "; ".join(problems)
