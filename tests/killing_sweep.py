"""`python -m tests.killing_sweep ask|fit N <blueprint.train arguments>`: a sweep that is
SIGKILLed, as a pre-empted node or an OOM killer ends it, at its N-th trial: between asking Optuna
for the trial and launching it (`ask`), or as the trial starts training (`fit`, trials in this
process)."""

import os
import runpy
import signal
import sys
from collections.abc import Callable
from typing import Any

import blueprint.training.fit as fitting
from blueprint.sweeps.sweeper import BlueprintSweep


def killed_at_call(function: Callable[..., Any], nth: int) -> Callable[..., Any]:
    """`function`, but its `nth` call kills this process outright (no handler runs)."""
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)

    return wrapper


if __name__ == "__main__":
    where, nth = sys.argv[1], int(sys.argv[2])
    del sys.argv[1:3]
    if where == "ask":
        BlueprintSweep._start = killed_at_call(BlueprintSweep._start, nth)
    else:
        fitting.fit = killed_at_call(fitting.fit, nth)
    runpy.run_module("blueprint.train", run_name="__main__", alter_sys=True)
