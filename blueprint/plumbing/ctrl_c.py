"""Ctrl-C that always stops a run, and stays one line.

Python raises KeyboardInterrupt in whatever the main thread runs when SIGINT arrives. Inside a
finalizer or a weakref callback, which TensorFlow runs at every training step, it is printed as
"Exception ignored" and lost: training went on and the app's Stop never ended the run (seen in a
loop of short fits stopped at random moments). The handler remembers the request;
`RaiseLostCtrlC` (training/callbacks.py) raises it again at the next batch, and the lost one's
"Exception ignored" report is left out.
"""

import signal
import sys
import threading
from types import FrameType

PRESSED = threading.Event()  # set by the handler; a test that fakes a press clears it


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


def _interrupt(signum: int, frame: FrameType | None) -> None:
    PRESSED.set()
    raise KeyboardInterrupt
