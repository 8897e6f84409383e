"""`python -m deita_assets <command>`: the few things a user does outside the UI."""

import argparse
import os
import subprocess
import sys

from deita_assets.instance import prepare_dagster_home


def _dev(args: argparse.Namespace) -> int:
    """Start the Dagster webserver and daemon on this project (sensors and schedules run)."""
    prepare_dagster_home()
    command = ["dagster", "dev", "-m", "deita_assets.definitions", "-h", args.host, "-p", str(args.port)]
    return subprocess.call(command, env=os.environ.copy())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deita-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="start the Dagster UI and daemon")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(handler=_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
