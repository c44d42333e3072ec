"""Run the client: ``python -m dojo_client --help``."""

import sys

from dojo_client._cli import main

if __name__ == "__main__":
    sys.exit(main())
