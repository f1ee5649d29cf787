"""`python -m blueprint.sweeps [--storage URL] [--study NAME]`: the studies in an Optuna store.

One line per study: trials per state, best value and best parameters. The status file of the
old grid CSV, read from the store the sweeps themselves write.
"""

import argparse
import logging
import sys

from blueprint.credentials import masked
from blueprint.errors import BlueprintError, SweepError, first_line

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


def study_rows(storage_url: str, only: str | None) -> list[dict[str, str]]:
    """One row per study (all of them, or just `only`): name, direction, trials per state, best
    value (`mean ± std` over a repeated point's seeds) and parameters, and its parent MLflow
    run's id."""
    import optuna

    from blueprint.sweeps.contract import PARENT_ATTR
    from blueprint.sweeps.repeats import shown_value
    from blueprint.sweeps.study_store import StoreNotSetUp, open_storage

    try:
        storage = open_storage(storage_url, create=False, key="--storage")
    except StoreNotSetUp:  # a sweep is creating its tables right now, or none ran yet
        return []
    try:
        names = optuna.get_all_study_names(storage)
    except Exception as err:  # the file opened, but is not an Optuna store
        raise SweepError(
            f"cannot read the Optuna storage {masked(storage_url)}: {first_line(err)}"
        ) from err
    if only is not None:
        if only not in names:
            raise SweepError(
                f"no study {only!r} in {masked(storage_url)}; it holds: {', '.join(names)}"
            )
        names = [only]
    rows = []
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        counts = {
            state.lower(): str(sum(t.state.name == state for t in trials)) for state in STATES
        }
        complete = counts["complete"] != "0" and len(study.directions) == 1
        rows.append(
            {
                "study": name,
                "direction": "/".join(d.name.lower() for d in study.directions),
                **counts,
                "best": shown_value(study.best_value, study.best_trial.user_attrs)
                if complete
                else "-",
                "best params": " ".join(f"{k}={v}" for k, v in study.best_params.items())
                if complete
                else "-",
                "parent run": study.user_attrs.get(PARENT_ATTR, ""),
            }
        )
    return rows


def study_lines(storage_url: str, only: str | None) -> list[str]:
    """`study_rows` as aligned text: a header and one line per study (`make sweeps`)."""
    rows = [
        {k: v for k, v in row.items() if k != "parent run"} for row in study_rows(storage_url, only)
    ]
    if not rows:
        return []
    table = [tuple(rows[0]), *(tuple(row.values()) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        for row in table
    ]


def default_storage() -> str:
    """The sweeper's default storage URL (its one home is the sweeper config), resolved."""
    from omegaconf import OmegaConf

    from blueprint.resolvers import PROJECT_ROOT
    from hydra_plugins.blueprint_sweeper.config import BlueprintSweeperConf

    node = OmegaConf.create(
        {"paths": {"root_dir": str(PROJECT_ROOT)}, "storage": BlueprintSweeperConf.storage}
    )
    return str(node.storage)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blueprint.sweeps", description=__doc__)
    parser.add_argument("--storage", default=default_storage(), help="Optuna storage URL")
    parser.add_argument("--study", help="show this study only")
    args = parser.parse_args(argv)
    logging.getLogger("optuna").setLevel(logging.WARNING)
    try:
        lines = study_lines(args.storage, args.study)
    except BlueprintError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines) if len(lines) > 1 else f"no studies yet in {masked(args.storage)}")
    return 0
