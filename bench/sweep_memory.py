"""Memory bench: 20 small trials, one after another, in one sweep process.

`python -m bench.sweep_memory [--trials 20]`. Samples the sweep process's resident memory as each
trial ends (read from /proc while the study counts ended trials) and prints RSS after trial 1,
after the last trial and the growth between them (target <= 300 MB). Linux only.
"""

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers import ROOT, store_overrides


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def ended_trials(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as connection:
            query = "SELECT COUNT(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED', 'FAIL')"
            return connection.execute(query).fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "optuna.db"
        cmd = [
            sys.executable, "-m", "blueprint.train", "--multirun",
            "hparams_search=random",
            f"hydra.sweeper.n_trials={args.trials}",
            f"hydra.sweeper.storage=sqlite:///{db}",
            *store_overrides(Path(tmp)),
            "model=mlp",
            "model.hidden_units=[64]",
            "trainer.epochs=3",
            "trainer.verbose=0",
            "tracking.log_model=false",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        samples: dict[int, float] = {}
        while proc.poll() is None:
            done = ended_trials(db)
            if done and done not in samples:
                samples[done] = rss_mb(proc.pid)
                print(f"after trial {done:2d}: RSS {samples[done]:7.1f} MB", flush=True)
            time.sleep(0.05)
        if proc.returncode != 0:
            sys.exit(f"the sweep failed:\n{proc.stderr.read().decode()[-3000:]}")
    first, last = samples[min(samples)], samples[max(samples)]
    print(
        f"RSS after trial {min(samples)}: {first:.1f} MB, "
        f"after trial {max(samples)}: {last:.1f} MB, "
        f"growth {last - first:+.1f} MB (target <= 300 MB)"
    )


if __name__ == "__main__":
    main()
