"""Bench input written once and reused by later runs."""

import time
from collections.abc import Callable
from pathlib import Path


def generated_once(root: Path, what: str, write: Callable[[Path], None]) -> Path:
    """`root`, filled by `write` on the first call (a marker file says it finished, so a run
    killed halfway writes it again) and reused as it is by later runs."""
    done = root / ".complete"
    if not done.exists():
        print(f"generating {what} in {root} ...", end=" ", flush=True)
        start = time.perf_counter()
        write(root)
        done.touch()
        print(f"{time.perf_counter() - start:.0f} s", flush=True)
    return root
