"""Sweeps: the studies in the sweep store with their states and best values, as `make sweeps`
lists them, each with a link to its parent MLflow run."""

import streamlit as st

from blueprint.app.shared import UI, base_config, base_overrides
from blueprint.app.store import run_by_id, run_page
from blueprint.errors import BlueprintError
from blueprint.sweeps.cli import default_storage, study_rows

st.title("Sweeps")
given = [o.split("=", 1)[1] for o in base_overrides() if o.startswith("hydra.sweeper.storage=")]
storage = given[-1] if given else default_storage()
uri = str(base_config().tracking.uri)
try:
    rows = study_rows(storage, None)
except BlueprintError as err:
    rows = []
    if "no Optuna store" not in str(err):
        st.error(str(err))
if not rows:
    st.info(f"no studies yet in {storage}: python -m blueprint.train --multirun ...")
    st.stop()
for row in rows:
    parent = run_by_id(uri, row.pop("parent run"))
    row["parent run"] = run_page(UI, parent) if parent else ""
st.dataframe(
    rows, column_config={"parent run": st.column_config.LinkColumn(display_text="open in MLflow")}
)
