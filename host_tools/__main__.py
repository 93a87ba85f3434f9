"""`python -m host_tools`: the same `fevergate` command line as the console script."""

import sys

from host_tools.cli import main

sys.exit(main())
