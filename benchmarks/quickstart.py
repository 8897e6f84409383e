"""The main job as a new user runs it: the quick start on a fresh data home, timed per stage.

Usage: python benchmarks/quickstart.py [--jobs N] [--keep]   (target: <= 10 minutes on 2 cores)

Prints the quick start's own progress lines and summary, then seconds per stage (summed over its
partitions; with runs side by side they add up to more than the wall time), the wall total and the
machine's load average before and after, since this machine is shared and its load moves the figures.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 600


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the data home (to open the UI on it)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="deita_quickstart_"))
    os.environ["DEITA_HOME"] = str(home)
    # as on a fresh machine: the bundled GGUF is dequantized (once) inside the timed run
    os.environ["DEITA_MODEL_CACHE"] = str(home / "model_cache")
    os.environ.pop("DAGSTER_HOME", None)
    os.environ.pop("DAGSTER_STORAGE_DIR", None)
    from deita_assets.app.quickstart import run_quickstart
    from deita_assets.storage.paths import samples_dir

    load_before = os.getloadavg()
    started = time.monotonic()
    summary = run_quickstart([samples_dir()], ["deita", "random", "longest_response"], jobs=args.jobs)
    wall = time.monotonic() - started
    load_after = os.getloadavg()
    print("\nstage                          seconds (sum over partitions)")
    for name, seconds in sorted(summary.stage_seconds.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<28} {seconds:8.1f}")
    print(f"  {'sum of runs':<28} {sum(summary.stage_seconds.values()):8.1f}")
    verdict = "within" if wall <= TARGET_SECONDS else "OVER"
    print(f"wall {wall:.1f} s ({wall / 60:.1f} min), {args.jobs} jobs: {verdict} the {TARGET_SECONDS} s goal")
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1-minute)")
    print(f"runs failed: {len(summary.runs_failed)}")
    if args.keep:
        print(f"data home kept at {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
    return 1 if summary.runs_failed else 0


if __name__ == "__main__":
    sys.exit(main())
