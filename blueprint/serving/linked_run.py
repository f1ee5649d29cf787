"""A run that records what was done with a trained model, linked to the run that trained it.

It is a child of the training run (`mlflow.parentRunId`), so the MLflow UI lists it under that
run, in the same experiment; the training run itself is never changed once it has ended.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
from mlflow import MlflowClient

from blueprint.tracking.mlflow_run import end_failed

COMMAND_TAG = "blueprint.command"  # predict | evaluate | export


@contextmanager
def linked_run(
    client: MlflowClient, training_run_id: str, command: str, model: str
) -> Iterator[mlflow.ActiveRun]:
    """A run under `training_run_id` in the store `client` was opened on (`existing_store`)."""
    training = client.get_run(training_run_id)
    run = mlflow.start_run(
        experiment_id=training.info.experiment_id,
        parent_run_id=training_run_id,
        run_name=f"{command}-{training.info.run_name}",
        tags={COMMAND_TAG: command},
    )
    try:
        mlflow.log_param("model", model)
        yield run
    except BaseException as err:
        end_failed(err)
        raise
    else:
        mlflow.end_run()
