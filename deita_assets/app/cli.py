"""`python -m deita_assets <command>`: the few things a user does outside the UI."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from deita_assets.app.instance import prepare_dagster_home
from deita_assets.core.strategies import DEFAULT_COMPARISON


def _dev(args: argparse.Namespace) -> int:
    """Start the Dagster webserver and daemon on this project (sensors and schedules run)."""
    import dagster as dg

    from deita_assets.app.instance import fail_abandoned_runs

    prepare_dagster_home()
    with dg.DagsterInstance.get() as instance:
        fail_abandoned_runs(instance, log=print)
    command = [sys.executable, "-m", "dagster", "dev", "-m", "deita_assets.definitions"]
    command += ["-h", args.host, "-p", str(args.port)]
    return subprocess.call(command, env=os.environ.copy())


def _ingest(args: argparse.Namespace) -> int:
    """Copy files/folders into the inbox; the inbox sensor turns each new file into a shard."""
    from deita_assets.core.inbox import copy_into_inbox, plan_inbox
    from deita_assets.storage.paths import inbox_dir

    inbox = Path(args.inbox).resolve() if args.inbox else inbox_dir()
    try:
        plan = plan_inbox(
            args.paths, bundle=not args.no_bundle, bundle_min_files=args.bundle_min_files, source=args.source
        )
    except ValueError as error:  # an unsafe --source: nothing is written
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path, why in plan.skipped:
        print(f"skipped {path}: {why}")
    report = copy_into_inbox(plan, inbox)
    for path in report.unbundled:
        print(f"not bundled (unparseable, copied on its own so it reaches quarantine): {path}")
    for name, n_files in report.written:
        print(f"inbox <- {name}" + (f" (bundle of {n_files} files)" if n_files > 1 else ""))
    for name in report.unchanged:
        print(f"unchanged, already in the inbox: {name}")
    print(f"{len(report.written)} new file(s) in {inbox}; the inbox sensor registers each as a pool_shard")
    return 0 if (report.written or report.unchanged) else 1


def _quickstart(args: argparse.Namespace) -> int:
    """Ingest the bundled sample (or given paths) and materialize the whole graph offline."""
    from deita_assets.app.quickstart import run_quickstart
    from deita_assets.storage.paths import samples_dir

    paths = args.paths or [samples_dir()]
    summary = run_quickstart(
        paths, args.strategies.split(","), budget=args.budget, jobs=args.jobs, verbose=args.verbose
    )
    return 1 if summary.runs_failed else 0


def _llm_import(args: argparse.Namespace) -> int:
    """Cache the replies of an offline batch run (`vllm run-batch -o`) written for an exported file."""
    import json

    from deita_assets.core.batch import import_results_jsonl
    from deita_assets.resources.llm import DuckDBResultCache
    from deita_assets.resources.store import DuckDBStore

    counts = import_results_jsonl(args.requests, args.results, DuckDBResultCache(DuckDBStore()))
    print(json.dumps(counts, sort_keys=True))
    return 0 if counts["cached"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deita-assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="start the Dagster UI and daemon")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.set_defaults(handler=_dev)
    ingest = commands.add_parser(
        "ingest", help="copy data files or folders into the inbox (one shard per file)"
    )
    ingest.add_argument("paths", nargs="+", type=Path)
    ingest.add_argument("--inbox", help="inbox folder (default $DEITA_HOME/inbox)")
    ingest.add_argument("--source", help="source name for every file (default: first folder under PATH)")
    ingest.add_argument(
        "--no-bundle",
        action="store_true",
        help="copy every file as its own shard, even in folders of many files",
    )
    ingest.add_argument(
        "--bundle-min-files",
        type=int,
        default=10,
        help="a folder with this many data files becomes one shard",
    )
    ingest.set_defaults(handler=_ingest)
    quickstart = commands.add_parser(
        "quickstart", help="ingest the bundled sample (or PATHs) and materialize the whole graph offline"
    )
    quickstart.add_argument("paths", nargs="*", type=Path)
    quickstart.add_argument(
        "--strategies",
        default=DEFAULT_COMPARISON,
        help="comma-separated selection strategies to materialize (and fine-tune) after scoring",
    )
    quickstart.add_argument(
        "--budget",
        type=int,
        default=None,
        help="selection budget m for every strategy (default: 10%% of the pool)",
    )
    quickstart.add_argument("--jobs", type=int, default=2, help="runs side by side (default 2)")
    quickstart.add_argument(
        "--verbose", action="store_true", help="stream every run's Dagster events to the console"
    )
    quickstart.set_defaults(handler=_quickstart)
    llm_import = commands.add_parser(
        "llm-import",
        help="cache an offline batch run's results (vllm run-batch -o) for a DEITA_LLM_MODE=export file",
    )
    llm_import.add_argument("requests", type=Path, help="the exported requests-*.jsonl")
    llm_import.add_argument("results", type=Path, help="the results JSONL written for it")
    llm_import.set_defaults(handler=_llm_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
