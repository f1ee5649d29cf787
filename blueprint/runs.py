"""`python -m blueprint.runs [--uri URI] [--experiment NAME] [--limit N]`: the latest runs of the
MLflow store, one line each, like `make sweeps` for studies.

Runs whose process died without a word (SIGKILL, power loss) are first marked KILLED (see
`blueprint.tracking.owner`), so nothing reads RUNNING that is not. A run that did not finish and
still has its folder names the command that continues it (from its last backup, if any).
"""

import argparse
import sys
from datetime import datetime
from pathlib import Path

from blueprint.resolvers import PROJECT_ROOT

RESUMABLE = ("KILLED", "FAILED")  # a training run that stopped before its end, folder still there


def run_lines(uri: str, experiment: str | None, limit: int) -> list[str]:
    """A header and one row per run, newest first; [] when the store holds none."""
    from blueprint.tracking.owner import mark_orphaned_runs
    from blueprint.tracking.params import OUTPUT_DIR_TAG
    from blueprint.tracking.store_opening import locked_client

    client = locked_client(uri)  # a first run may be creating the tables right now
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    if experiment is not None:
        experiments = {i: n for i, n in experiments.items() if n == experiment}
    if not experiments:
        return []
    mark_orphaned_runs(client, list(experiments))
    runs = client.search_runs(
        list(experiments), order_by=["attributes.start_time DESC"], max_results=limit
    )
    rows = [("experiment", "run", "run id", "status", "started", "best", "next")]
    for run in runs:
        metrics = run.data.metrics
        best = next(
            (
                f"{k[5:]} {v:.4g}"
                for k, v in metrics.items()
                if k.startswith("best_") and k != "best_epoch"
            ),
            "-",
        )
        folder = run.data.tags.get(OUTPUT_DIR_TAG)
        resumable = run.info.status in RESUMABLE and folder and Path(folder).is_dir()
        started = datetime.fromtimestamp(run.info.start_time / 1000).strftime("%Y-%m-%d %H:%M")
        rows.append(
            (
                experiments[run.info.experiment_id],
                run.info.run_name or "-",
                run.info.run_id,
                run.info.status,
                started,
                best,
                f"python -m blueprint.train resume={run.info.run_id}" if resumable else "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    ]


def default_uri() -> str:
    """conf/tracking/mlflow.yaml's store (its one home), resolved as a run would: the project's
    mlflow.db, or MLFLOW_TRACKING_URI."""
    from omegaconf import OmegaConf

    tracking = OmegaConf.load(PROJECT_ROOT / "conf" / "tracking" / "mlflow.yaml")
    uri = OmegaConf.to_container(tracking)["uri"]  # unresolved: ${paths.root_dir} below
    node = OmegaConf.create({"paths": {"root_dir": str(PROJECT_ROOT)}, "uri": uri})
    return str(node.uri)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blueprint.runs", description=__doc__)
    parser.add_argument("--uri", default=default_uri(), help="MLflow store")
    parser.add_argument("--experiment", help="this experiment's runs only")
    parser.add_argument("--limit", type=int, default=20, help="newest runs shown (default 20)")
    args = parser.parse_args(argv)
    from blueprint.credentials import masked, tracking_uri
    from blueprint.errors import BlueprintError
    from blueprint.tracking.store_opening import check_server_access, store_file

    args.uri = tracking_uri(args.uri)  # a user:password@ in it: to MLflow's variables

    file = store_file(args.uri)
    try:
        check_server_access(args.uri)  # a refused login: one line naming MLflow's variables
        lines = (
            []
            if file is not None and not file.is_file()
            else run_lines(args.uri, args.experiment, args.limit)
        )
    except BlueprintError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines) if len(lines) > 1 else f"no runs yet in {masked(args.uri)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
