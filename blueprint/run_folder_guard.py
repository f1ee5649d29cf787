"""A single run never starts in a folder where an earlier run trained: with a fixed
`hydra.run.dir` used before, Hydra would replace that run's `.hydra` config, and the new run its
checkpoints, logs and backup. The check is a Hydra callback, as `on_run_start` comes before Hydra
writes anything; `force=true` lets the new run replace the old one. A folder where an earlier
attempt stopped before training (a config or data error) is reused as it is. Sweeps number their
own folders.

A folder that cannot be created (under a file, or where the user may not write) is refused here
too, with one line, instead of the traceback Hydra's own `mkdir` would end in.
"""

import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

import blueprint.resolvers  # noqa: F401  (hydra.run.dir uses ${project_root:})
from blueprint.errors import first_line

log = logging.getLogger("blueprint.train")


def create_or_exit(folder: Path, key: str) -> None:
    """Creates the run (or sweep) folder Hydra is about to create; one line and exit status 2
    where it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        why = f"{err.strerror}: {err.filename}" if err.strerror else first_line(err)
        log.error(
            "%s=%s cannot be created (%s): set %s to a folder you can write", key, folder, why, key
        )
        sys.exit(2)


class KeepEarlierRuns(Callback):
    """Refuses, with one line and exit status 2, a single run whose folder holds a run, and a
    run or sweep whose folder cannot be created."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        create_or_exit(Path(config.hydra.sweep.dir), "hydra.sweep.dir")

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.run.dir)
        if not folder.is_dir():
            create_or_exit(folder, "hydra.run.dir")
            return
        # Imports Keras and MLflow: only for a folder that exists.
        from blueprint.tracking.outcome import CLASS_NAMES_FILE  # written as training starts
        from blueprint.training.backup_files import BACKUP_DIR

        interrupted = (folder / BACKUP_DIR).is_dir()
        if not interrupted and not (folder / CLASS_NAMES_FILE).is_file():
            return
        if config.get("force"):
            shutil.rmtree(folder / BACKUP_DIR, ignore_errors=True)  # or fit would restore it
            return
        if interrupted:
            hint = f"it holds an interrupted run: resume={folder} continues it"
        else:
            hint = "it holds an earlier run, which is never overwritten: pick another folder"
        log.error("hydra.run.dir=%s was used before; %s, or force=true replaces it", folder, hint)
        sys.exit(2)
