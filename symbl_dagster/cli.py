"""The ``symbl-dagster`` command: ``serve`` runs the local Symbl-compatible server, ``demo`` the pipeline."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    # Each subcommand lives with its concern; imports stay light so --help is fast.
    from symbl_dagster.demo import configure_demo_parser
    from symbl_dagster.server.cli import configure_serve_parser

    parser = argparse.ArgumentParser(
        prog="symbl-dagster",
        description="Symbl.ai conversation intelligence as Dagster assets.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    configure_serve_parser(
        subcommands.add_parser(
            "serve",
            help="run the local, offline, Symbl-compatible API server",
            description="Serve Symbl's REST API on loopback with an offline speech engine.",
        )
    )
    configure_demo_parser(
        subcommands.add_parser(
            "demo",
            help="run the whole pipeline on the sample recordings",
            description="Feed recordings through the sensor and materialize every asset in a real Dagster instance.",
        )
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; each subparser sets ``handler`` to a callable taking the namespace."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
