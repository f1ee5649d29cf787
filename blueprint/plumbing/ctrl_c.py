"""Ctrl-C that always stops a run, and stays one line.

Python raises KeyboardInterrupt in whatever the main thread runs when SIGINT arrives. Inside a
finalizer or a weakref callback, which TensorFlow runs at every training step, it is printed as
"Exception ignored" and lost: training went on and the app's Stop never ended the run (seen in a
loop of short fits stopped at random moments). Inside Python code that TensorFlow's C++ calls, it
can crash the process instead (a segfault in lib_pywrap_tensorflow_common.so, seen once in CI
under load: the run read RUNNING, and nothing said why). So while a model trains
(`ctrl_c_at_batch_ends`) the handler only remembers the press; `RaiseCtrlCAtBatchEnd`
(training/callbacks.py) raises it at the next batch's end, where only Keras' Python runs. A second
press raises at once, for a step that never ends. Elsewhere the handler raises as Python's does,
and a press lost there is raised at the first batch too.
"""

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

PRESSED = threading.Event()  # set by the handler; a test that fakes a press clears it
_TRAINING = threading.Event()  # set within `ctrl_c_at_batch_ends`: a first press only remembered


def catch_ctrl_c() -> None:
    """SIGINT raises KeyboardInterrupt and is remembered, also where this process was started
    with it ignored (a non-interactive shell's background jobs: `make app &`)."""
    signal.signal(signal.SIGINT, _interrupt)
    report_others = sys.unraisablehook

    def quiet_when_lost(unraisable: "sys.UnraisableHookArgs") -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            report_others(unraisable)

    sys.unraisablehook = quiet_when_lost


def is_stop(err: BaseException) -> bool:
    """Whether `err` ends a stop: Ctrl-C itself, or any error after a Ctrl-C that Python lost
    mid-step, which can leave Keras' state broken so that the next step fails instead."""
    return isinstance(err, KeyboardInterrupt) or PRESSED.is_set()


@contextmanager
def ctrl_c_at_batch_ends() -> Iterator[None]:
    """Around `model.fit`: a first Ctrl-C is raised at the next batch's end (by the callback), or
    on the way out if training ends first."""
    _TRAINING.set()
    try:
        yield
    finally:
        _TRAINING.clear()
    if PRESSED.is_set():
        raise KeyboardInterrupt


def _interrupt(signum: int, frame: FrameType | None) -> None:
    first_in_training = _TRAINING.is_set() and not PRESSED.is_set()
    PRESSED.set()
    if not first_in_training:
        raise KeyboardInterrupt
