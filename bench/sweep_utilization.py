"""Sweep utilization bench: blueprint's sweep engine against batch launching, on trials of
different lengths.

`python -m bench.sweep_utilization [--trials 16] [--slots 2] [--rounds 1] [overrides...]`. A
random-sampler sweep whose trials differ tenfold in length, as a pruned search's do
(`trainer.epochs` drawn from 1, 2, 4, 8, 16, at batch size 16; default recipe otherwise), on
`--slots` joblib worker processes, each pinned to a core of its own (one device per slot), run
twice per round, alternating which goes first:
- blueprint: a slot whose trial ends takes the next trial at once;
- batch: the slots' trials launched together and the next batch only once all of them ended, as
  Hydra's sweepers launch (and blueprint's did): the same engine with that one rule changed.
Both draw the same trials (the sampler's seed). For each it prints the wall time (the first
launch's start to the last one's end) and the busy-slot fraction (time with a trial launched in
the slot over slots x wall time; also until the last trial started, as slots idle at the end
whatever the engine once no trial is left; and the share inside the trials' MLflow runs), then
the wall-time ratio. Targets: busy >= 0.9, wall <= 0.8x batch.
"""

import argparse
import atexit
import json
import os
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
import mlflow

from blueprint.sweeps import slots, sweeper
from tests.helpers import ROOT, clean_env, store_overrides

SPANS_FILE = "launches.json"  # in the sweep's folder: each launch's start and end


class OneCorePerSlot(keras.callbacks.Callback):
    """A trial callback that pins its worker process to a core no other worker holds: one device
    per slot, as on a machine with a GPU per slot. Unpinned, a trial running beside an idle slot
    takes both cores, and the idle slot costs less here than it does on GPUs."""

    core: int | None = None  # this worker's, claimed by its first trial

    def __init__(self, folder: str) -> None:
        super().__init__()
        if OneCorePerSlot.core is None:
            for core in sorted(os.sched_getaffinity(0)):
                try:  # the first worker to create the file holds the core
                    os.close(os.open(f"{folder}/core{core}", os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    continue
                OneCorePerSlot.core = core
                break
        if OneCorePerSlot.core is not None:
            for thread in os.listdir("/proc/self/task"):  # TensorFlow's threads too
                os.sched_setaffinity(int(thread), {OneCorePerSlot.core})


class BatchSlots(slots.Slots):
    """Hydra's batch launching: no slot takes a trial until every slot's trial has ended."""

    @property
    def free(self) -> int:
        return 0 if self.running else self.size


def sweep(mode: str, trials: int, n_slots: int, overrides: list[str]) -> tuple[float, float]:
    """Runs one sweep; returns its wall time and busy-slot fraction."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        cmd = [
            sys.executable, "-m", "bench.sweep_utilization", "--run", mode,
            *store_overrides(tmp),
            f"hydra.sweeper.storage=sqlite:///{tmp}/optuna.db",
            "hparams_search=random",
            f"hydra.sweeper.n_trials={trials}",
            "trainer.epochs=choice(1,2,4,8,16)",
            "trainer.batch_size=16",  # epochs of ~2 s a slot: trials of ~6-40 s
            "hydra/launcher=joblib",
            f"hydra.launcher.n_jobs={n_slots}",
            "allowed_targets=[blueprint.*,keras.*,bench.*]",
            "+callbacks.pin._target_=bench.sweep_utilization.OneCorePerSlot",
            f"+callbacks.pin.folder={tmp}",
            *overrides,
        ]  # fmt: skip
        env = {**clean_env(), "BENCH_LAUNCHES": str(tmp / SPANS_FILE)}
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"the {mode} sweep failed:\n{done.stderr[-3000:]}")
        client = mlflow.MlflowClient(f"sqlite:///{tmp}/mlflow.db")
        experiment = client.get_experiment_by_name("default").experiment_id
        runs = client.search_runs([experiment], "tags.`sweep.trial_number` != ''")
        launches = json.loads((tmp / SPANS_FILE).read_text())
    if len(runs) != trials or len(launches) != trials:
        sys.exit(f"the {mode} sweep ran {len(runs)} trial runs, not {trials}")
    training = sum(r.info.end_time - r.info.start_time for r in runs) / 1000
    first, last_start = min(start for start, _ in launches), max(start for start, _ in launches)
    wall = max(end for _, end in launches) - first
    busy = sum(end - start for start, end in launches) / (n_slots * wall)
    # while trials were left to start: idle slots then are the engine's; after it, the tail's
    before = sum(min(end, last_start) - start for start, end in launches if start < last_start)
    busy_before = before / (n_slots * (last_start - first))
    print(
        f"{mode:9s}: wall {wall:6.1f} s, busy slots {busy:.2f} ({busy_before:.2f} until the "
        f"last trial started), of which training (MLflow runs) {training / (n_slots * wall):.2f}",
        flush=True,
    )
    return wall, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("overrides", nargs="*", help="more sweep overrides")
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"blueprint": [], "batch": []}
    for round_ in range(args.rounds):
        order = ["blueprint", "batch"] if round_ % 2 == 0 else ["batch", "blueprint"]
        for mode in order:
            results[mode].append(sweep(mode, args.trials, args.slots, args.overrides))
        ratio = results["blueprint"][-1][0] / results["batch"][-1][0]
        print(f"round {round_ + 1}: blueprint / batch wall time {ratio:.2f} (target <= 0.8)")
    if args.rounds > 1:
        ratios = [b[0] / a[0] for a, b in zip(results["batch"], results["blueprint"], strict=True)]
        busy = [busy for _, busy in results["blueprint"]]
        print(
            f"over {args.rounds} rounds: wall ratio median {statistics.median(ratios):.2f} "
            f"({min(ratios):.2f}-{max(ratios):.2f}), blueprint busy slots median "
            f"{statistics.median(busy):.2f}"
        )


def run_sweep_in_this_process(mode: str) -> None:
    """`--run MODE overrides...`: the sweep itself, with batch launching where MODE says so; each
    launch's start and end (a slot busy) go to the file BENCH_LAUNCHES names as it exits."""
    launches: list[tuple[float, float]] = []
    run_one = slots.Slots._run

    def timed(self: slots.Slots, *args: object) -> None:
        start = time.time()
        run_one(self, *args)
        launches.append((start, time.time()))

    slots.Slots._run = timed
    atexit.register(lambda: Path(os.environ["BENCH_LAUNCHES"]).write_text(json.dumps(launches)))
    if mode == "batch":
        sweeper.Slots = BatchSlots
    sys.argv = ["blueprint.train", "--multirun", *sys.argv[3:]]
    runpy.run_module("blueprint.train", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        run_sweep_in_this_process(sys.argv[2])
    else:
        main()
