"""``python -m bench``: see ``python -m bench --help``."""

import sys

from bench.cli import main

if __name__ == "__main__":  # the fake Bot API's child process imports this module too
    sys.exit(main())
