"""``python -m crembo.cli``: the same as the ``crembo`` console script."""

import sys

from crembo.cli import main

if __name__ == "__main__":
    sys.exit(main())
