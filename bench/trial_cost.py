"""Trial cost bench: what a small trial costs, in time and in memory, against a hand-written sweep.

`python -m bench.trial_cost [--trials 20] [--epochs 1] [--runs 1] [overrides...]`. Runs a sweep
of 1-epoch trials of a small MLP on the digits at default settings (diagnostics and model logging
on; the overrides change them), one after another in the sweep process, then the same trials in
the loop a user writes by hand (bench/hand_written_sweep.py: a plain Optuna study, a nested MLflow
run a trial, no model), alternating the two sides round by round, and prints:
- each trial's wall time (the study's start and complete times) and the sweep's own time between
  trials; the median of the trials after the first (which traces the graphs); target <= 1 s;
- the sweep process's resident memory after the first and the last trial (read from /proc as the
  study counts ended trials) and the growth between them; target < 50 MB over 20 trials.
- the hand-written loop's median trial and blueprint's as a share of it (target <= 0.7).
With `--runs N`, N rounds one after another, then the median of their medians and ratios and the
range: a shared machine's speed drifts by ±15% over minutes, more than one run can tell apart.
Linux only.
"""

import argparse
import contextlib
import itertools
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

from tests.helpers import ROOT, sweep_cmd


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def ended_count(db: Path) -> int:
    """Ended trials in the study store, by one read-only query: the poll must not take the CPU
    the trials are timed on (opening it through Optuna costs tens of ms a poll)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as store:
            (count,) = store.execute(
                "SELECT count(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED', 'FAIL')"
            ).fetchone()
    except sqlite3.OperationalError:  # no store or no tables yet, or the sweep is writing
        return 0
    return count


def ended_trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    return [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]


def ended_in_order(storage: str) -> list[optuna.trial.FrozenTrial]:
    return sorted(ended_trials(storage), key=lambda t: t.number)


def walls(ended: list[optuna.trial.FrozenTrial]) -> list[float]:
    """Each trial's wall time, ask to tell."""
    return [(t.datetime_complete - t.datetime_start).total_seconds() for t in ended]


def one_hand_loop(trials: int, epochs: int) -> float:
    """Runs the hand-written sweep; returns its median trial after the first."""
    with tempfile.TemporaryDirectory() as folder:
        cmd = [sys.executable, "-m", "bench.hand_written_sweep", folder, str(trials), str(epochs)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"the hand-written sweep failed:\n{done.stderr[-3000:]}")
        seconds = walls(ended_in_order(f"sqlite:///{folder}/optuna.db"))
    median = statistics.median(seconds[1:])
    print(f"hand-written loop: first trial {seconds[0]:.2f} s, median of the rest {median:.2f} s")
    return median


def one_sweep(trials: int, epochs: int, overrides: list[str]) -> tuple[float, float]:
    """Runs one sweep and prints each trial's wall time; returns the median trial after the
    first and the RSS growth between the first trial and the last."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        storage = f"sqlite:///{tmp}/optuna.db"
        cmd = sweep_cmd(
            tmp,
            "hparams_search=random",
            f"hydra.sweeper.n_trials={trials}",
            f"trainer.epochs={epochs}",
            "model.hidden_units=[64]",
            "tracking.log_model=true",  # defaults, which sweep_cmd's TINY turns off
            "diagnostics=default",
            *overrides,
        )
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        rss: dict[int, float] = {}
        while proc.poll() is None:
            done = ended_count(tmp / "optuna.db")
            if done and done not in rss:
                rss[done] = rss_mb(proc.pid)
            time.sleep(0.2)
        if proc.returncode != 0:
            sys.exit(f"the sweep failed:\n{proc.stderr.read().decode()[-3000:]}")
        ended = ended_in_order(storage)
    seconds = walls(ended)
    gaps = [
        (later.datetime_start - earlier.datetime_complete).total_seconds()
        for earlier, later in itertools.pairwise(ended)
    ]
    for number, wall in enumerate(seconds):
        print(f"trial {number:2d}: {wall:5.2f} s")
    median = statistics.median(seconds[1:])
    print(
        f"trial wall time: first {seconds[0]:.2f} s, median of the rest {median:.2f} s "
        f"(target <= 1 s); sweep between trials: median {statistics.median(gaps):.2f} s"
    )
    first, last = rss[min(rss)], rss[max(rss)]
    print(
        f"RSS after trial {min(rss)}: {first:.1f} MB, after trial {max(rss)}: {last:.1f} MB, "
        f"growth {last - first:+.1f} MB (target < 50 MB)",
        flush=True,
    )
    return median, last - first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1, help="sweeps, one after another")
    parser.add_argument("overrides", nargs="*", help="e.g. diagnostics=off")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = []
    for run in range(args.runs):
        if run % 2:  # alternate which side goes first
            hand = one_hand_loop(args.trials, args.epochs)
            median, growth = one_sweep(args.trials, args.epochs, args.overrides)
        else:
            median, growth = one_sweep(args.trials, args.epochs, args.overrides)
            hand = one_hand_loop(args.trials, args.epochs)
        print(f"blueprint / hand-written: {median / hand:.2f} (target <= 0.7)", flush=True)
        results.append((median, growth, median / hand))
    if args.runs > 1:
        medians, growths, ratios = (sorted(column) for column in zip(*results, strict=True))
        print(
            f"over {args.runs} runs: median trial {statistics.median(medians):.2f} s "
            f"({medians[0]:.2f}-{medians[-1]:.2f} s), RSS growth {growths[0]:+.1f} to "
            f"{growths[-1]:+.1f} MB, blueprint / hand-written {statistics.median(ratios):.2f} "
            f"({ratios[0]:.2f}-{ratios[-1]:.2f})"
        )


if __name__ == "__main__":
    main()
