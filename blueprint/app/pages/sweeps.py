"""Sweeps: the studies in the sweep store with their states and best values, as `make sweeps`
lists them, each with a link to its parent MLflow run; then one study's trials (each linked to
its run) and Optuna's plots of it."""

import streamlit as st

from blueprint.app.address import mlflow_ui
from blueprint.app.job import sweep_storage
from blueprint.app.run_reads import run_by_id, run_page
from blueprint.app.shared import base_config, base_overrides
from blueprint.app.studies import load, plots, trial_rows
from blueprint.credentials import masked
from blueprint.errors import BlueprintError
from blueprint.sweeps.cli import study_rows

LINK = st.column_config.LinkColumn(display_text="open in MLflow")

st.title("Sweeps")
uri = str(base_config().tracking.uri)
storage = sweep_storage(base_overrides())
try:
    rows = study_rows(storage, None)
except BlueprintError as err:
    rows = []
    if "no Optuna store" not in str(err):
        st.error(str(err))
if not rows:
    st.info(f"no studies yet in {masked(storage)}: python -m blueprint.train --multirun ...")
    st.stop()


def link(run_id: str) -> str:
    """The run's page in the MLflow UI; empty for a run not (or no longer) in the store."""
    run = run_by_id(uri, run_id)
    return run_page(mlflow_ui(), run) if run else ""


for row in rows:
    row["parent run"] = link(row["parent run"])
st.dataframe(rows, column_config={"parent run": LINK})

names = [row["study"] for row in rows]
name = st.selectbox("study", names, index=len(names) - 1)  # the newest by default
study = load(storage, name)
trials = trial_rows(study)
for trial in trials:
    trial["run"] = link(trial["run"])
st.subheader(f"Trials of {name}")
st.dataframe(trials, column_config={"run": LINK}, hide_index=True)
for title, figure in plots(study).items():
    st.subheader(title)
    if isinstance(figure, str):
        st.info(figure)
    else:
        st.plotly_chart(figure, key=title)
