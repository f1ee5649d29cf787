"""Which process owns a RUNNING run, so a run whose process died (SIGKILL, power loss, OOM killer)
stops reading RUNNING: MLflow only ends runs whose process exits through Python.

Each run is tagged with its host, pid and the pid's start time; a later run (or `make ui`) on the
same host marks the RUNNING runs whose process is gone as KILLED. The start time tells a reused
pid from the original process. Runs of other hosts are left alone: their processes cannot be seen.
"""

import os
import socket
from pathlib import Path

from mlflow import MlflowClient

HOST_TAG, PID_TAG, START_TAG = "process.host", "process.pid", "process.start"
ORPHAN_TAG = "process.gone"  # set on runs marked KILLED because their process had died


def process_start(pid: int) -> str | None:
    """The start time of `pid` (clock ticks since boot) on Linux; None elsewhere or when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the command name may hold spaces


def owner_tags() -> dict[str, str]:
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    start = process_start(os.getpid())
    if start is not None:
        tags[START_TAG] = start
    return tags


def is_alive(pid: int, start: str | None) -> bool:
    """Whether the process that started the run still runs (and is not a later one with its pid)."""
    if start is not None:
        return process_start(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def mark_orphaned_runs(client: MlflowClient, experiment_ids: list[str]) -> list[str]:
    """Ends as KILLED (tagged `process.gone`) the RUNNING runs of this host whose process died;
    returns their ids."""
    host = socket.gethostname()
    running = client.search_runs(
        experiment_ids,
        f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}'",
        max_results=1000,
    )
    marked = []
    for run in running:
        pid = run.data.tags.get(PID_TAG, "")
        if not pid.isdigit() or is_alive(int(pid), run.data.tags.get(START_TAG)):
            continue
        client.set_tag(
            run.info.run_id,
            ORPHAN_TAG,
            f"its process (pid {pid} on {host}) had died; continue it with "
            f"python -m blueprint.train resume={run.info.run_id}",
        )
        client.set_terminated(run.info.run_id, "KILLED")
        marked.append(run.info.run_id)
    return marked
