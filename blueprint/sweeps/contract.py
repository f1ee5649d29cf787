"""The contract between the sweeper and a trial job, in one place: what the sweeper tells a job
(the `sweep` node of its config), and the names by which the two, and the parent MLflow run, find
each other afterwards (MLflow tags, Optuna user attributes).

Both sides import these; neither writes a name of its own.
"""

from typing import Any

from omegaconf import DictConfig, OmegaConf

from blueprint.schema import Sweep

STUDY_TAG = "sweep.study"  # MLflow tag of the parent run and every child run: the study name
TRIAL_TAG = "sweep.trial_number"  # child run tag: its Optuna trial number
ROLE_TAG = "sweep.role"  # parent run tag: "parent"
TRIAL_STATE_TAG = "sweep.trial_state"  # child run tag: COMPLETE, PRUNED or FAIL once told
INTERRUPTED_TAG = "sweep.interrupted"  # child run tag: "true" when its sweep died under it
PARENT_ATTR = "blueprint.mlflow_parent_run_id"  # study user attr: resumed sweeps reuse the run
RUN_ATTR = "mlflow_run_id"  # trial user attribute: the job's MLflow run, set once it started
FIXED_ATTR = "blueprint.fixed"  # study user attr: {key: value} every trial gets (not locations)
REUSED_ATTR = "blueprint.reused_from"  # grid trial copied from an earlier version: "<study>#<n>"
REUSED_TAG = "sweep.reused_from"  # its child run's tag, once nested under the grown grid's run
DEVICES_TAG = "sweep.devices"  # child run tag: its slot and GPUs, "slot 1: GPU 2" (gpus_per_trial)
REPEAT_TAG = "sweep.repeat"  # a repeat's run, nested under its trial's run: 0..repeats-1
# trial user attribute of a repeated point: {reduce, seeds, values, std} (blueprint.sweeps.repeats)
REPEATS_ATTR = "blueprint.repeats"


class TrialNode(Sweep):
    """The `sweep` node the sweeper adds to each job's overrides (null in single runs): its keys
    and their checks are the config schema's (`blueprint.schema.Sweep`); this is how the sweeper
    writes it and the job reads it."""

    def override(self) -> str:
        """`sweep={study:'...',...}` in Hydra's override grammar; the repeat keys at their
        defaults are left out, so a trial trained once is told exactly what it always was."""
        node = self.model_dump(exclude_defaults=True)
        values = ",".join(f"{key}:{quoted(value)}" for key, value in node.items())
        return f"sweep={{{values}}}"

    @classmethod
    def of(cls, cfg: DictConfig) -> "TrialNode | None":
        """The job's node, or None outside a sweep."""
        node = cfg.get("sweep")
        return cls(**OmegaConf.to_container(node, resolve=True)) if node else None


def quoted(value: Any) -> str:
    """A value in Hydra's override grammar: strings single-quoted, so URLs survive."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "null" if value is None else str(value)
