"""An instructor's uploaded base is untrusted: it is loaded only in the evaluation
sandbox, like a participant's model, never by Keras in the web process."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from workers import sandbox
from workshops.data_uploads import assignment_base_upload

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def good_base(tmp_path_factory) -> bytes:
    import keras

    inputs = keras.Input(shape=(8, 8, 1))
    model = keras.Model(
        inputs, keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(inputs))
    )
    path = tmp_path_factory.mktemp("base") / "base.keras"
    model.save(path)
    return path.read_bytes()


@pytest.fixture
def sandbox_calls(monkeypatch) -> list[dict]:
    """Record each sandbox.run call; the real sandbox still runs it."""
    calls: list[dict] = []
    real = sandbox.run

    def recording(argv, **kwargs):
        result = real(argv, **kwargs)
        calls.append({"argv": list(argv), **kwargs, "result": result})
        return result

    monkeypatch.setattr(sandbox, "run", recording)
    return calls


def test_base_is_loaded_in_the_bwrap_sandbox_with_no_secrets(
    workshop, good_base, sandbox_calls, monkeypatch
) -> None:
    """The probe runs through bwrap, with a cleared environment: the web process's
    secret key and database URL never reach the code that loads the file."""
    monkeypatch.setenv("DJANGO_SECRET_KEY", "web-secret-never-in-a-sandbox")
    transfer = workshop.assignments.get(slug="transfer")
    assignment_base_upload(
        assignment=transfer, upload=SimpleUploadedFile("b.keras", good_base)
    )
    assert len(sandbox_calls) == 1
    call = sandbox_calls[0]
    assert call["backend"] == "bwrap"
    assert call["result"].backend == "bwrap"
    assert call["result"].outcome is sandbox.Outcome.OK
    assert not {"DJANGO_SECRET_KEY", "DATABASE_URL"} & set(call["env"])
    assert "/job/base.keras" in call["argv"]
