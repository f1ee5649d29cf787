"""What the trainer app does, without Streamlit: compose and check a run's config, start
`python -m blueprint.train` as its own process, read its progress from MLflow, stop it.

A run started here is an ordinary run: the same command line, Hydra outputs and MLflow records
as from a terminal, so the MLflow UI, `make runs` and `resume=` see it too.
"""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO

from hydra import compose, initialize_config_dir
from mlflow.entities import Run
from omegaconf import DictConfig, OmegaConf

import blueprint.resolvers  # noqa: F401  (registers the resolvers conf/ uses)
from blueprint.app.run_reads import epoch_curves, run_named
from blueprint.errors import BlueprintError, ConfigError, compose_failure
from blueprint.resolvers import PROJECT_ROOT
from blueprint.validation import validate

CONF_DIR = PROJECT_ROOT / "conf"
# Hydra names a run's folder as the run starts; a composed preview has none yet.
RUN_FOLDER = "paths.output_dir='<the run folder, made as it starts>'"
# Hydra's compose API works through one process-wide GlobalHydra: two sessions (tabs) composing
# at once made one fail ("GlobalHydra is already initialized"), and a page whose base config
# failed so drew no Train button. Pages compose one at a time.
_COMPOSING = threading.Lock()
TRAIN, VALIDATION = "#1f77b4", "#ff7f0e"  # the progress charts' curves: blue and orange


def group_options(group: str) -> list[str]:
    """The options of a config group, as files in conf/<group>/, the default in train.yaml first."""
    defaults = OmegaConf.load(CONF_DIR / "train.yaml").defaults
    default = next(
        (entry[group] for entry in defaults if OmegaConf.is_dict(entry) and group in entry), None
    )
    options = sorted(path.stem for path in (CONF_DIR / group).glob("*.yaml"))
    return sorted(options, key=lambda option: option != default)


def composed(overrides: list[str]) -> DictConfig:
    """conf/train.yaml with `overrides`, checked as `python -m blueprint.train` checks it;
    ConfigError carries the one line the command line would print."""
    cfg = _compose(overrides, with_hydra=False)
    validate(cfg)
    return cfg


def sweep_storage(overrides: list[str]) -> str:
    """Where a sweep with `overrides` keeps its studies: `hydra.sweeper.storage`, as the
    sweeper's default, `study_store=` or a direct override sets it."""
    return str(_compose(overrides, with_hydra=True).hydra.sweeper.storage)


def _compose(overrides: list[str], with_hydra: bool) -> DictConfig:
    try:
        with _COMPOSING, initialize_config_dir(str(CONF_DIR)):
            return compose(
                "train", overrides=[*overrides, RUN_FOLDER], return_hydra_config=with_hydra
            )
    except Exception as err:  # an unknown key or group option, a value Hydra cannot parse
        raise ConfigError(compose_failure(err)) from None


@dataclass
class TrainingJob:
    """One `python -m blueprint.train` process started by the app, and where to follow it."""

    run_name: str
    overrides: list[str]  # as the run's command line has them
    tracking_uri: str
    experiment: str
    epochs: int
    objective: str
    process: subprocess.Popen = field(repr=False)
    # What the process prints: a file without a name, so it goes with the job, nothing left in /tmp.
    output: IO[bytes] = field(repr=False)
    stopping: bool = field(default=False, init=False)  # Stop pressed: Ctrl-C sent
    killed: bool = field(default=False, init=False)  # ... and MLflow reads its run KILLED

    @classmethod
    def start(cls, overrides: list[str]) -> "TrainingJob":
        """Checks the config, then starts the run in its own process (the app stays responsive);
        the run is named so that its MLflow records can be found while it trains."""
        run_name = f"app-{time.strftime('%m%d-%H%M%S')}"
        overrides = [*overrides, f"tracking.run_name={run_name}"]
        cfg = composed(overrides)
        output = tempfile.TemporaryFile()  # noqa: SIM115 (open as long as the job)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "blueprint.train", *overrides],
                cwd=PROJECT_ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            )
        except BaseException:
            output.close()
            raise
        return cls(
            run_name=run_name,
            overrides=overrides,
            tracking_uri=str(cfg.tracking.uri),
            experiment=str(cfg.tracking.experiment_name),
            epochs=int(cfg.trainer.epochs),
            objective=str(cfg.objective.metric),
            process=process,
            output=output,
        )

    @property
    def running(self) -> bool:
        """The run trains: its process is alive, and it is not a stopped run whose process is
        only tearing TensorFlow down."""
        return self.process.poll() is None and not self._killed_recorded()

    @property
    def stopped(self) -> bool:
        """Ended by Stop (Ctrl-C): MLflow reads the run KILLED, or Python exited with status 130
        or the signal's -2 (stopped before its MLflow run began)."""
        exited = self.process.poll() in (-signal.SIGINT, 128 + signal.SIGINT)
        return exited or self._killed_recorded()

    def _killed_recorded(self) -> bool:
        """After Stop, whether the run is recorded KILLED: ~0.02 s after the signal, where its
        process exits seconds later (TensorFlow's C++ teardown: 2 s on an idle machine, many
        more on a loaded one), which the page need not wait for."""
        if self.stopping and not self.killed:
            run = run_named(self.tracking_uri, self.experiment, self.run_name)
            self.killed = run is not None and run.info.status == "KILLED"
        return self.killed

    def stop(self) -> None:
        """Ctrl-C, as in a terminal: training stops and the MLflow run ends KILLED. Returns at
        once; `running` turns False when the process has ended (within seconds)."""
        if self.running and not self.stopping:
            self.process.send_signal(signal.SIGINT)
            self.stopping = True

    def error(self) -> str | None:
        """The one line a failed run printed last (its config error, or the exception); for a
        process a signal ended, which printed nothing of it, the signal."""
        if self.running or self.process.returncode == 0:
            return None
        if self.process.returncode < 0:  # the kernel's out-of-memory SIGKILL, a crash's SIGSEGV
            name = signal.Signals(-self.process.returncode).name
            return (
                f"the training process was ended by {name} (out of memory, a crash, or a kill) "
                "and could say nothing; the next run marks its MLflow run KILLED"
            )
        lines = [line for line in self.printed().splitlines() if line.strip()]
        for line in reversed(lines):
            if "ERROR" in line or "Error" in line:
                return line.split(" - ", 1)[-1].strip()
        return lines[-1] if lines else f"exit status {self.process.returncode}"

    def printed(self) -> str:
        """What the process printed so far (stdout and stderr)."""
        size = os.fstat(self.output.fileno()).st_size
        return os.pread(self.output.fileno(), size, 0).decode(errors="replace")

    def curve_names(self) -> tuple[str, ...]:
        """What the progress charts show: the loss and the objective, each on the training and
        the validation data (Keras names: `loss`, `val_loss`, `accuracy`, `val_accuracy`)."""
        metric = self.objective.removeprefix("val_")
        return ("loss", "val_loss", metric, f"val_{metric}")

    def progress(self) -> "Progress":
        """The run's epochs so far, read from its MLflow metrics (logged as each epoch ends)."""
        run = run_named(self.tracking_uri, self.experiment, self.run_name)
        if run is None:
            return Progress(None, {}, None)
        curves = epoch_curves(self.tracking_uri, run.info.run_id, self.curve_names())
        return Progress(run, curves, run.data.metrics.get(f"best_{self.objective}"))


class JobRunning(BlueprintError):
    """Train pressed while the app's job still runs: one job at a time."""


class Jobs:
    """The app's training job, one for the whole server process: every browser tab (a reload
    is a new session) finds it, follows it and can stop it; a second start while it runs is
    refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # sessions run in threads of their own
        self.current: TrainingJob | None = None

    def start(self, overrides: list[str]) -> TrainingJob:
        """Starts a job unless one runs (JobRunning says which); ConfigError as `composed`."""
        with self._lock:
            job = self.current
            if job is not None and job.running:
                raise JobRunning(f"{job.run_name} is still training: stop it or wait for it to end")
            self.current = TrainingJob.start(overrides)
            return self.current


@dataclass(frozen=True)
class Progress:
    run: Run | None  # the MLflow run, once it exists
    curves: dict[str, list[float]]  # per-epoch values by Keras name, those logged so far
    best: float | None  # the objective's best value, logged when training ends

    @property
    def epochs_done(self) -> int:
        return max((len(values) for values in self.curves.values()), default=0)

    def label(self, epochs: int) -> str:
        """The progress bar's text: "starting" until the first epoch ends (the process imports
        TensorFlow and loads the data first), then how many epochs are done."""
        done = self.epochs_done
        return f"epoch {done} of {epochs}" if done else f"starting: {epochs} epochs to go"
