"""Entry point for ``python -m grader``."""

import sys

from ._cli import main

sys.exit(main())
