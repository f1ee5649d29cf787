"""What the app reads from the MLflow store: a run by name or id and its epochs so far, the
finished runs with a model and their one-line summaries, and the MLflow UI's address of a run.
Read only: a store not there yet is simply empty."""

import time

from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from blueprint.tracking.store_opening import locked_client, store_file
from blueprint.ui import RUN_VIEW


def _client(uri: str) -> MlflowClient | None:
    """A client on an existing store; None before the first run has made it."""
    file = store_file(uri)
    if file is not None and not file.is_file():
        return None
    return locked_client(uri)


def run_named(uri: str, experiment: str, name: str) -> Run | None:
    client = _client(uri)
    found = client and client.get_experiment_by_name(experiment)
    if not found:
        return None
    runs = client.search_runs([found.experiment_id], f"attributes.run_name = '{name}'")
    return runs[0] if runs else None


def epoch_curves(uri: str, run_id: str, names: tuple[str, ...]) -> dict[str, list[float]]:
    """Each Keras log's per-epoch values (MLflow's `epoch/<name>`), those logged so far."""
    client = MlflowClient(uri)
    curves = {n: [m.value for m in client.get_metric_history(run_id, f"epoch/{n}")] for n in names}
    return {name: values for name, values in curves.items() if values}


def run_by_id(uri: str, run_id: str) -> Run | None:
    client = _client(uri) if run_id else None
    try:
        return client.get_run(run_id) if client else None
    except MlflowException:  # deleted, or in another store
        return None


def finished_runs(uri: str, limit: int = 50) -> list[Run]:
    """The latest finished runs that logged a model, newest first, across experiments."""
    client = _client(uri)
    if client is None:
        return []
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments,
        "attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    return [run for run in runs if run.outputs and run.outputs.model_outputs]


def run_summary(run: Run) -> str:
    """A finished run as a list shows it: name, model, best value of its objective, start time."""
    params = run.data.params
    objective = params.get("objective.metric", "")
    best = run.data.metrics.get(f"best_{objective}")
    value = f"best {objective} {best:.4f}" if best is not None else "no best value"
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.info.start_time / 1000))
    return f"{run.info.run_name} · {params.get('model.name', '?')} · {value} · {started}"


def run_page(ui: str, run: Run) -> str:
    view = RUN_VIEW.format(experiment=run.info.experiment_id, run=run.info.run_id)
    return f"{ui.rstrip('/')}/{view}"
