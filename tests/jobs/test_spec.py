"""An evaluation's job spec: the grader over its models, each folder it sees
named by digest at the mount the grader finds it, never by content; a regrade
chunk's spec lists every model it grades (no sandbox runs)."""

import json
from pathlib import Path

from jobs.placement import CHUNK_MAX_MODELS
from jobs.spec import evaluation_spec_build
from workers.evaluation import grader_limits, model_mount
from workers.jobspec import JobSpec, folder_digest

HIDDEN_LABELS = b"the hidden labels"


def _chunk(root: Path, models: int) -> list[dict]:
    """Return a chunk of one assignment's stored models, as a regrade grades them."""
    hidden, train = root / "hidden", root / "train"
    hidden.mkdir()
    train.mkdir()
    (hidden / "test.npz").write_bytes(HIDDEN_LABELS)
    (train / "base.keras").write_bytes(b"base")
    jobs = []
    for n in range(models):
        model = root / "artifacts" / f"run-{n}" / "model.keras"
        model.parent.mkdir(parents=True)
        model.write_bytes(b"model")
        jobs.append(
            {
                "id": str(100 + n),
                "model": str(model),
                "spec": {"checks": {"input_shape": [8, 8, 1]}, "version": 3},
                "data": str(hidden / "test.npz"),
                "base": str(train / "base.keras"),
                "history": None,
            }
        )
    return jobs


def test_a_full_regrade_chunk_is_one_spec_that_lists_every_model(tmp_path):
    """A chunk as large as a chunk may be is one valid spec of kind "regrade":
    the split and base at the grader's binds, each model where the grader
    reads its copy, all by digest; it travels and reads back unchanged."""
    jobs = _chunk(tmp_path, CHUNK_MAX_MODELS)
    spec = evaluation_spec_build(
        kind="regrade",
        job_id="chunk:regrade-4-17",
        jobs=jobs,
        split="hidden",
        limits=grader_limits(900, 2**31),
    )
    assert JobSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.kind == "regrade"
    assert spec.sandbox_limits() == grader_limits(900, 2**31)
    refs = {ref.name: ref for ref in spec.data}
    assert len(refs) == CHUNK_MAX_MODELS + 2
    assert (refs["hidden"].mount, refs["base"].mount) == ("/in/0", "/in/1")
    assert refs["hidden"].digest == folder_digest(tmp_path / "hidden")
    for job in jobs:
        ref = refs[f"model-{job['id']}"]
        assert ref.mount == model_mount(job["id"])
        assert ref.digest == folder_digest(Path(job["model"]))
    # A model is named by its own file: what lies beside it (a check's model
    # sits in the check's work folder, among what the participant's code
    # left) is neither walked nor named.
    first = Path(jobs[0]["model"])
    (first.parent / "left-by-the-code.txt").write_text("x")
    assert folder_digest(first) == refs[f"model-{jobs[0]['id']}"].digest


def test_the_hidden_split_is_named_by_digest_never_by_path_or_content(tmp_path):
    """What a spec says of the hidden split: a digest and a mount. A changed
    split is a changed digest."""
    jobs = _chunk(tmp_path, 1)
    build = {
        "kind": "evaluate",
        "job_id": "run:9",
        "jobs": jobs,
        "split": "hidden",
        "limits": grader_limits(60, 2**31),
    }
    wire = json.dumps(evaluation_spec_build(**build).to_dict())
    assert str(tmp_path) not in wire
    assert HIDDEN_LABELS.decode() not in wire
    (tmp_path / "hidden" / "test.npz").write_bytes(HIDDEN_LABELS + b" changed")
    assert json.dumps(evaluation_spec_build(**build).to_dict()) != wire
