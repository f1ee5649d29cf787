"""Sweeps: the studies in the sweep store with their states and best values, as `make sweeps`
lists them, each with a link to its parent MLflow run."""

import streamlit as st

from blueprint.app.job import sweep_storage
from blueprint.app.shared import UI, base_config, base_overrides
from blueprint.app.store import run_by_id, run_page
from blueprint.credentials import masked
from blueprint.errors import BlueprintError
from blueprint.sweeps.cli import study_rows

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
for row in rows:
    parent = run_by_id(uri, row.pop("parent run"))
    row["parent run"] = run_page(UI, parent) if parent else ""
st.dataframe(
    rows, column_config={"parent run": st.column_config.LinkColumn(display_text="open in MLflow")}
)
