"""Where a run came from: git state, command line, Hydra overrides."""

import functools
import getpass
import shlex
import subprocess
import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

from blueprint.credentials import masked


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


@functools.cache
def git_state(root: Path) -> tuple[tuple[str, str], ...]:
    """The commit and dirty flag of `root` (none outside a git checkout), read once a process:
    its code is what it imported as it started, whatever a later edit changes on disk, and a
    sweep's trials in one process need not run git twice each."""
    commit = _git(root, "rev-parse", "HEAD")
    if not commit:
        return ()
    dirty = bool(_git(root, "status", "--porcelain", "--untracked-files=no"))
    return (("git.commit", commit), ("git.dirty", str(dirty)))


def provenance_tags(root: Path) -> dict[str, str]:
    """Tags for git commit and dirty flag (when `root` is a git checkout), command and overrides."""
    executable, *args = sys.orig_argv  # as typed: "python -m blueprint.train model=mlp"
    tags = {"command": masked(shlex.join([Path(executable).name, *args])), **dict(git_state(root))}
    if HydraConfig.initialized():
        tags["hydra.overrides"] = masked(" ".join(HydraConfig.get().overrides.task))
    return tags


def mlflow_source_tags(provenance: dict[str, str]) -> dict[str, str]:
    """The tags MLflow's fluent API gives the runs it starts (who, from which program and
    commit), for a run created through the client: MLflow makes them in a private registry."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        user = "unknown"
    tags = {"mlflow.user": user, "mlflow.source.name": sys.argv[0], "mlflow.source.type": "LOCAL"}
    if "git.commit" in provenance:
        tags["mlflow.source.git.commit"] = provenance["git.commit"]
    return tags
