"""The ``symbl-dagster`` command: ``serve`` runs the bundled server, ``demo`` the pipeline, ``dev`` the Dagster UI."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    # Each subcommand lives with its concern; imports stay light so --help is fast.
    from symbl_dagster.demo import configure_demo_parser
    from symbl_dagster.dev import configure_dev_parser

    parser = argparse.ArgumentParser(
        prog="symbl-dagster",
        description="Symbl.ai conversation intelligence as Dagster assets.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _configure_serve_parser(
        subcommands.add_parser(
            "serve",
            help="run the bundled Symbl-compatible API server (the symbl-server package)",
            description="Serve Symbl's REST API with an offline speech engine; the same as `symbl-server`.",
        )
    )
    configure_demo_parser(
        subcommands.add_parser(
            "demo",
            help="run the whole pipeline on the sample recordings",
            description="Feed recordings through the sensor and materialize every asset in a real Dagster instance.",
        )
    )
    configure_dev_parser(
        subcommands.add_parser(
            "dev",
            help="open the Dagster UI on a working offline setup (bundled server, sample recordings)",
            description="Run the Dagster webserver and daemon against the bundled server and the sample calls.",
        )
    )
    return parser


def _configure_serve_parser(parser: argparse.ArgumentParser) -> None:
    """The server's own flags where ``symbl-server`` is installed, else a clear pointer to the extra."""
    try:
        from symbl_server.cli import configure_serve_parser
    except ImportError:
        parser.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        parser.set_defaults(handler=_server_not_installed)
        return
    configure_serve_parser(parser)


def _server_not_installed(args: argparse.Namespace) -> int:
    print(
        "error: the Symbl-compatible server is not installed: pip install 'symbl-dagster[server]' "
        "(or the symbl-server package)",
        file=sys.stderr,
    )
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; each subparser sets ``handler`` to a callable taking the namespace."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
