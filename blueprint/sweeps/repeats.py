"""One sweep point trained over several seeds (`hydra.sweeper.repeats` > 1), inside its trial's job.

The job's MLflow run is the trial's run: the point's params, the objective reduced over the seeds
(`best_<metric>`, mean or median) and its spread (`best_<metric>_std`). Under it, one ordinary
training run per seed `trainer.seed + r`, in the job folder's `seed<seed>/`. Optuna sees one
trial: its value is the reduced objective, its intermediate values the first repeat's epochs
(only that repeat reports, and may prune the trial, skipping the others), and its user attribute
`REPEATS_ATTR` keeps the seeds, their values and the standard deviation.
"""

import copy
import shutil
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from blueprint.schema import Repeats
from blueprint.sweeps.contract import REPEATS_ATTR
from blueprint.sweeps.trial import SweepTrial
from blueprint.tracking.params import override_key
from blueprint.validation import check

REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "mean": statistics.mean,
    "median": statistics.median,
}


@dataclass(frozen=True)
class Repeated:
    """A point's runs: each seed's objective, the trial's value reduced from them."""

    reduce: str  # mean | median
    seeds: list[int]
    values: list[float]

    @property
    def value(self) -> float:
        return float(REDUCERS[self.reduce](self.values))

    @property
    def std(self) -> float:
        """The sample standard deviation (n - 1) over the seeds."""
        return statistics.stdev(self.values)

    def summary(self) -> dict[str, Any]:
        """What the trial keeps (`REPEATS_ATTR`): JSON, as Optuna stores user attributes."""
        return asdict(self) | {"std": self.std}

    def shown(self) -> str:
        """`value ± std (mean of 3 seeds)`, as the sweep's summary and `make sweeps` show it."""
        return f"{self.value:.4g} ± {self.std:.2g} ({self.reduce} of {len(self.values)} seeds)"


def shown_value(value: float, user_attrs: dict[str, Any]) -> str:
    """A trial's value as a person reads it: `mean ± std (...)` for a repeated point."""
    summary = user_attrs.get(REPEATS_ATTR)
    if not summary:
        return f"{value:.4g}"
    return Repeated(summary["reduce"], summary["seeds"], summary["values"]).shown()


def check_repeats(repeats: int, reduce: str) -> None:
    """The sweeper's repeat settings, by the schema each trial's `sweep` node is checked by:
    one line naming the key, before the sweep writes anything."""
    check(Repeats, {"repeats": repeats, "repeat_reduce": reduce}, prefix="hydra.sweeper")


def repeats_key(repeats: int, reduce: str) -> list[str]:
    """What repeats add to a study's identity: a mean over seeds is another objective than one
    run's, so it names another study; none when each point trains once (the names stay)."""
    if repeats == 1:
        return []
    return [f"hydra.sweeper.repeats={repeats}", f"hydra.sweeper.repeat_reduce={reduce}"]


def train_repeats(
    cfg: DictConfig, sweep: SweepTrial, train_once: Callable[[DictConfig, SweepTrial], float]
) -> float:
    """Runs `train_once` for each seed under the trial's run; returns the reduced objective."""
    import mlflow

    from blueprint.tracking.mlflow_run import tracked_run
    from blueprint.tracking.outcome import log_run_config, log_run_files
    from blueprint.training.warm_models import free_keras_state

    assert sweep.node is not None  # repeats come from the sweeper's trial node
    job_dir = Path(cfg.paths.output_dir)
    seeds = [cfg.trainer.seed + r for r in range(sweep.repeats)]
    values: list[float] = []
    with tracked_run(cfg, **sweep.run_links()) as run:
        sweep.attach(run.run_id)
        log_run_config(job_dir)
        for r, seed in enumerate(seeds):
            if r:  # the previous repeat's graphs go, as between trials
                free_keras_state()
            repeat = repeat_config(cfg, seed, f"{run.name}-seed{seed}")
            write_repeat_config(job_dir, repeat)
            values.append(train_once(repeat, sweep.for_repeat(r, run.run_id)))
        repeated = Repeated(sweep.node.repeat_reduce, seeds, values)
        metric = f"best_{cfg.objective.metric}"
        mlflow.log_metrics({metric: repeated.value, f"{metric}_std": repeated.std}, step=0)
        sweep.record_repeats(repeated.summary())
        log_run_files(job_dir)  # the job's log, every repeat's lines
    return repeated.value


def repeat_config(cfg: DictConfig, seed: int, run_name: str) -> DictConfig:
    """The trial's config for one seed: what `trainer.seed=<seed>` would compose (the data
    split follows where `data.seed` is `${trainer.seed}`), trained in `seed<seed>/`."""
    repeat = copy.deepcopy(cfg)  # keeps its interpolations: data.seed follows the seed
    repeat.trainer.seed = seed
    repeat.paths.output_dir = str(Path(cfg.paths.output_dir) / f"seed{seed}")
    repeat.tracking.run_name = run_name
    return repeat


def write_repeat_config(job_dir: Path, repeat: DictConfig) -> None:
    """The job's `.hydra/` as this seed's run would hold it (its config, its seed among the
    overrides): what its MLflow run logs, and `evaluate` composes its data from."""
    source, target = job_dir / ".hydra", Path(repeat.paths.output_dir) / ".hydra"
    target.mkdir(parents=True, exist_ok=True)
    if (source / "hydra.yaml").is_file():
        shutil.copy(source / "hydra.yaml", target / "hydra.yaml")
    job = OmegaConf.load(source / "overrides.yaml") if (source / "overrides.yaml").is_file() else []
    overrides = [o for o in job if override_key(str(o)) != "trainer.seed"]
    overrides.append(f"trainer.seed={repeat.trainer.seed}")
    OmegaConf.save(OmegaConf.create(overrides), target / "overrides.yaml")
    OmegaConf.save(repeat, target / "config.yaml")
