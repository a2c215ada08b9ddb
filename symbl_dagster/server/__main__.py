"""`python -m symbl_dagster.server`: the same as `symbl-dagster serve`."""

import argparse
import sys

from symbl_dagster.server.cli import configure_serve_parser


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m symbl_dagster.server",
        description="Serve Symbl's REST API on loopback with an offline speech engine.",
    )
    configure_serve_parser(parser)
    args = parser.parse_args()
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
