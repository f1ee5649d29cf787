"""Where a run folder's backup lives and how many epochs it holds, read without TensorFlow: by
what reports on a run (the resume hint after Ctrl-C or a lost store, the run-folder guard) as
well as by the backup itself (`blueprint.training.backup`)."""

import json
from pathlib import Path

BACKUP_DIR = "backup"  # under the run folder
WEIGHTS, METADATA = "latest.weights.h5", "training_metadata.json"  # BackupAndRestore's files


def saved_epoch(metadata: Path) -> int | None:
    """The epoch count a backup's metadata file records; None where it is missing or torn."""
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def epochs_done(output_dir: Path) -> int:
    """Epochs the backup in `output_dir` holds, 0 without a readable one; reads only."""
    return saved_epoch(output_dir / BACKUP_DIR / METADATA) or 0


def resume_hint(output_dir: Path) -> str | None:
    """How to go on with a run stopped in `output_dir`; None where no epoch was backed up."""
    if not epochs_done(output_dir):
        return None
    return (
        f"the run's epochs so far are backed up in {output_dir}: "
        f"`python -m blueprint.train resume={output_dir}` goes on from there"
    )
