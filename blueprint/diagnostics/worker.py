"""The recorder in a child process (diagnostics.process=true), so that the training thread pays
for the probe pass and little else.

Statistics, pictures, MLflow writes and the end-of-run GIF, overviews and evaluation pictures all
run in `python -m blueprint.diagnostics.worker`, started when training starts. It pays where a
core is spare: on 2 shared cores it measured slower than recording in process (1.45x against
1.25x the run without diagnostics, alternated in one sitting), as the child's CPU time is taken
from training, whose TensorFlow threads keep both cores busy. A child started with `python -m`
imports only numpy, PIL, matplotlib, pandas and MLflow (~2.4 s of CPU; no TensorFlow, Keras or
scikit-learn), where multiprocessing's spawn would re-import the training script and TensorFlow
with it.

Messages are pickled onto the child's stdin by a writer thread, so training never waits for the
child (its imports take a few seconds, during the first epochs). The child's exit status and the
one line it prints say whether everything it was sent was recorded.
"""

import contextlib
import pickle
import queue
import subprocess
import sys
import threading
from typing import IO, Any

from blueprint.diagnostics.evaluation import SplitEvaluation
from blueprint.diagnostics.histograms import EpochTensors
from blueprint.diagnostics.recorder import EpochRecorder, RecorderSettings

FINISH_TIMEOUT_S = 600  # the end-of-run pictures and uploads take seconds; a hung child not forever


class RecorderFailed(RuntimeError):
    """The recorder process could not record something it was sent; the message says what."""


class RecorderProcess:
    """`EpochRecorder`'s `record` and `finish`, run by a child process."""

    def __init__(self, settings: RecorderSettings) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._outbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write, daemon=True, name="recorder-writer")
        self._writer.start()
        self._outbox.put(settings)

    @property
    def pid(self) -> int:
        return self._process.pid

    def _write(self) -> None:
        """Pickles each message onto the child's stdin; pipe writes release the GIL."""
        stdin: IO[bytes] = self._process.stdin  # type: ignore[assignment]
        while (message := self._outbox.get()) is not None:
            try:
                pickle.dump(message, stdin, protocol=pickle.HIGHEST_PROTOCOL)
                stdin.flush()
            except OSError as err:  # the child is gone (BrokenPipeError)
                self._error = err
                break
        with contextlib.suppress(OSError):
            stdin.close()

    def record(self, epoch: int, tensors: EpochTensors, dead: dict[str, float]) -> None:
        if self._error is not None or self._process.poll() is not None:
            self.close()  # raises what the child said, if it said anything
            raise RecorderFailed("the recorder process ended before the end of training")
        self._outbox.put(("epoch", epoch, tensors, dead))

    def finish(self, evaluation: SplitEvaluation | None) -> None:
        """Sends the evaluation and waits until the child has logged everything."""
        self._outbox.put(("finish", evaluation))
        self.close()

    def close(self) -> None:
        """Ends the child; raises `RecorderFailed` if it did not record all it was sent."""
        if self._process.stdout.closed:  # type: ignore[union-attr]  # closed already
            return
        self._outbox.put(None)  # the writer closes stdin after the messages before it
        try:
            self._process.wait(timeout=FINISH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            raise RecorderFailed(f"the recorder process hung for {FINISH_TIMEOUT_S} s") from None
        finally:
            self._writer.join()
        said = self._process.stdout.read()  # type: ignore[union-attr]  # one line at most
        self._process.stdout.close()  # type: ignore[union-attr]
        if self._process.returncode != 0:
            line = said.decode(errors="replace").strip().splitlines()
            reason = line[-1] if line else f"exit status {self._process.returncode}"
            raise RecorderFailed(f"the recorder process stopped: {reason}")


def warm_up() -> None:
    """Pays the end-of-run one-off (pandas, for the table) while training runs, not while
    training waits for the recorder to finish."""
    import pandas  # noqa: F401  # MlflowClient.log_table imports it


def main() -> int:
    """The child: settings, then ("epoch", epoch, tensors, dead)... and ("finish", evaluation)."""
    stdin = sys.stdin.buffer
    try:
        recorder = EpochRecorder(pickle.load(stdin))
        warm_up()
        while True:
            message = pickle.load(stdin)
            if message[0] == "epoch":
                recorder.record(*message[1:])
            else:
                recorder.finish(message[1])
                return 0
    except EOFError:  # the training process closed the pipe before "finish": nothing to write
        return 0
    except Exception as err:
        reason = (str(err).strip().splitlines() or [""])[0]
        print(f"{type(err).__name__}: {reason}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
