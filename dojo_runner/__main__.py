import sys

from dojo_runner.cli import main

sys.exit(main())
