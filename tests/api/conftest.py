"""Fixtures of the API tests."""

import pytest

from tests.api.api_builders import use_fresh_cache


@pytest.fixture(autouse=True)
def _fresh_cache(settings) -> None:
    use_fresh_cache(settings)


@pytest.fixture
def mlp(workshop):
    return workshop.assignments.get(slug="mlp")


@pytest.fixture
def cnn(workshop):
    return workshop.assignments.get(slug="cnn")
