"""GPUs for parallel trials on one machine: each slot gets its own GPUs, or a share of one.

`hydra.sweeper.gpus_per_trial` (joblib and submitit_local launchers): the sweeper splits the GPUs
this machine shows among its slots (`assign_devices`) and tells each trial the table. A trial's
process takes a free slot (a lock file it holds for its life: a joblib worker keeps its slot for
every trial it runs, a submitit job gives it back as it exits) and sets `CUDA_VISIBLE_DEVICES`
before TensorFlow starts, with `TF_FORCE_GPU_ALLOW_GROWTH` where a GPU is shared, so that no
trial takes a whole card another one needs. Ray places GPUs itself (`num_gpus`).
"""

import fcntl
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from blueprint.errors import SweepError

SLOT_WAIT_S = 120.0  # how long a trial waits for a slot a finished worker has not yet released
_held: dict[str, tuple[int, IO[str]]] = {}  # lease folder -> (slot, its open lock file)


def visible_gpus() -> list[str]:
    """The GPUs trials may use: `CUDA_VISIBLE_DEVICES` where set, else those `nvidia-smi` lists
    (without TensorFlow, which must not start in the sweep's process before its trials)."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [gpu for gpu in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if gpu.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    listed = subprocess.run(
        ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    return listed.stdout.split() if listed.returncode == 0 else []


def assign_devices(slots: int, gpus_per_trial: float, gpus: list[str]) -> list[str]:
    """Each slot's `CUDA_VISIBLE_DEVICES`: `gpus_per_trial` >= 1 (a whole number) gives slot i
    its own GPUs; a fraction f lets floor(1 / f) slots share each GPU. Too few GPUs: one line."""
    if gpus_per_trial >= 1:
        if gpus_per_trial != int(gpus_per_trial):
            raise SweepError(
                f"hydra.sweeper.gpus_per_trial={gpus_per_trial}: above 1, a whole number of GPUs"
            )
        per_slot = int(gpus_per_trial)
        needed = slots * per_slot
        table = [",".join(gpus[i * per_slot : (i + 1) * per_slot]) for i in range(slots)]
    else:
        sharing = math.floor(1 / gpus_per_trial + 1e-9)
        needed = math.ceil(slots / sharing)
        table = [gpus[i // sharing] if i // sharing < len(gpus) else "" for i in range(slots)]
    if needed > len(gpus):
        raise SweepError(
            f"hydra.sweeper.gpus_per_trial={gpus_per_trial} for {slots} slots needs {needed} "
            f"GPUs; this machine shows {len(gpus)} ({', '.join(gpus) or 'none'}): lower "
            "hydra.sweeper.n_jobs or gpus_per_trial, or set CUDA_VISIBLE_DEVICES"
        )
    return table


def lease_folder(parent_run_id: str) -> Path:
    """Where the sweep's trials on this machine take their slots: one folder per sweep run."""
    return Path(tempfile.gettempdir()) / f"blueprint-slots-{parent_run_id}"


def take_slot(folder: Path, slots: int) -> int:
    """The slot this process holds, taking a free one first (waiting while a finished trial's
    process still holds it). Held until the process exits, which releases its lock."""
    key = str(folder)
    if key in _held:
        return _held[key][0]
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + SLOT_WAIT_S
    while True:
        for slot in range(slots):
            lock = open(folder / f"slot-{slot}.lock", "a")  # noqa: SIM115 (held for life)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            _held[key] = (slot, lock)
            return slot
        if time.monotonic() > deadline:
            raise SweepError(
                f"no free GPU slot among {slots} in {folder} after {SLOT_WAIT_S:.0f} s: more "
                "trial processes than hydra.sweeper.n_jobs run on this machine"
            )
        time.sleep(0.5)


def use_devices(table: list[str], folder: Path) -> str:
    """Takes a slot and shows TensorFlow only that slot's GPUs; returns them (the run's tag).
    Where TensorFlow already started in this process, only a slot it started under works."""
    slot = take_slot(folder, len(table))
    devices = table[slot]
    if "tensorflow" in sys.modules and os.environ.get("CUDA_VISIBLE_DEVICES") != devices:
        raise SweepError(
            f"TensorFlow started in this process before its trial took GPU slot {slot}; "
            "hydra.sweeper.gpus_per_trial needs the joblib or submitit_local launcher"
        )
    os.environ["CUDA_VISIBLE_DEVICES"] = devices
    if table.count(devices) > 1:  # a shared GPU: each trial takes memory as it needs it
        os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    return f"slot {slot}: GPU {devices}"
