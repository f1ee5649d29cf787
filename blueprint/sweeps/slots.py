"""Launch slots: each trial launched on its own, so a slot a short trial frees takes the next one
at once.

Hydra's launchers take a batch of jobs and return when the whole batch has ended: with pruning,
trials differ tenfold in length and the batch's other slots idle while its longest trial runs
(hydra#3091). Here each launch is a batch of one, made from a thread of its own, and the sweep
hears of each trial as it ends. With one slot the launch runs in the calling thread instead: the
basic launcher trains in this process, where Keras and Ctrl-C belong to the main thread.
"""

import queue
import threading
from collections.abc import Callable, Sequence

from hydra.core.utils import JobReturn

Launch = Callable[[list[str], int], Sequence[JobReturn]]


class Slots:
    """At most `size` launches in flight; `start` one when `free`, `next_ended` takes the next to
    end. A launch that raises (the launcher itself failed) re-raises from `next_ended`."""

    def __init__(self, launch: Launch, size: int) -> None:
        self.launch = launch
        self.size = size
        self.running: set[int] = set()  # trial numbers in flight
        self.ended: queue.Queue[tuple[int, JobReturn | BaseException]] = queue.Queue()

    @property
    def free(self) -> int:
        return self.size - len(self.running)

    def start(self, number: int, overrides: list[str], job_idx: int) -> None:
        """Launches trial `number`'s job; in this thread with one slot, else in a thread of its
        own (a daemon: a sweep stopped with Ctrl-C does not wait for a launcher to return)."""
        self.running.add(number)
        if self.size == 1:
            self._run(number, overrides, job_idx)
            return
        thread = threading.Thread(
            target=self._run, args=(number, overrides, job_idx), name=f"trial-{number}", daemon=True
        )
        thread.start()

    def _run(self, number: int, overrides: list[str], job_idx: int) -> None:
        try:
            (result,) = self.launch(overrides, job_idx)
        except BaseException as err:  # handed to the sweep's thread, which decides
            if self.size == 1:
                raise
            self.ended.put((number, err))
            return
        self.ended.put((number, result))

    def next_ended(self, timeout: float | None) -> tuple[int, JobReturn] | None:
        """The next trial to end and its job's return, or None after `timeout` seconds."""
        try:
            number, result = self.ended.get(timeout=timeout)
        except queue.Empty:
            return None
        self.running.discard(number)
        if isinstance(result, BaseException):
            raise result
        return number, result
