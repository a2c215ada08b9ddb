"""`python -m symbl_server`: the same as the `symbl-server` command."""

import sys

from symbl_server.cli import main

if __name__ == "__main__":
    sys.exit(main())
