"""Prepare a Dagster instance under the data home so `dagster dev` works from any directory."""

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from deita_assets.storage.paths import PACKAGE_DIR, data_home

if TYPE_CHECKING:
    import dagster as dg


def prepare_dagster_home() -> Path:
    """Create $DEITA_HOME/dagster with the project's dagster.yaml and export the env it needs.

    DAGSTER_HOME must be absolute; an explicit DAGSTER_HOME from the user is respected.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or data_home() / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    template = PACKAGE_DIR.parent / "dagster.yaml"
    if not config.exists() and template.is_file():
        shutil.copyfile(template, config)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("DAGSTER_STORAGE_DIR", str(home / "storage"))
    os.environ.setdefault("DEITA_HOME", str(data_home()))
    return home


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def fail_abandoned_runs(
    instance: "dg.DagsterInstance", log: Callable[[str], None] = lambda _message: None
) -> list[str]:
    """Mark as failed the in-process runs whose process is gone (SIGKILL, power loss).

    Runs the UI launches are watched by the daemon's run monitoring (dagster.yaml); runs executed in
    a process of ours (the quick start's) are not, so each carries the pid of its process in a tag,
    and a STARTED run whose process no longer exists can only have died. Returns their run ids.
    """
    import dagster as dg

    from deita_assets.app.graph_runner import RUNNER_PID_TAG

    stale = instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    )
    failed = []
    for record in stale:
        pid = record.dagster_run.tags.get(RUNNER_PID_TAG)
        if pid is None or not pid.isdigit() or _alive(int(pid)):
            continue
        instance.report_run_failed(
            record.dagster_run, message=f"its process (pid {pid}) is gone: killed or crashed mid-run"
        )
        failed.append(record.dagster_run.run_id)
        log(f"run {record.dagster_run.run_id} was left STARTED by a process that is gone: marked failed")
    return failed
