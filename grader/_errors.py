"""The grader's error hierarchy, documented in one place.

``GraderError`` is the root. Three subclasses describe a participant's model file;
``grade()`` turns them into a ``failed`` report and never lets them escape. One
subclass describes the grading setup (spec, hidden test split, published base),
which is the platform's or the instructor's fault; ``grade()`` raises it.

- ``UnsafeModelError``: the file would run code when loaded (a Lambda layer, a
  custom class, a TFSMLayer, a member path that escapes the archive).
- ``InvalidModelFileError``: the file is not a Keras 3 ``.keras`` archive (empty,
  a legacy HDF5 ``.h5``, a pickle, a damaged zip, a zip bomb, missing members).
- ``IncompatibleModelError``: the model loads but cannot be scored on this
  assignment's data (wrong input shape, wrong number of outputs, it crashes when
  called).
- ``SetupError``: the spec, the hidden test split or the published base is wrong.
"""

from __future__ import annotations


class GraderError(Exception):
    """Root of every error the grader raises on purpose."""


class UnsafeModelError(GraderError):
    """The model file would execute code or reach outside its archive."""


class InvalidModelFileError(GraderError):
    """The file is not a readable Keras 3 ``.keras`` archive."""


class IncompatibleModelError(GraderError):
    """The model loads but does not fit the assignment's data."""


class SetupError(GraderError):
    """The spec, hidden test split or published base is unusable."""
