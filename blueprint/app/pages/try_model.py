"""Try: a finished run's (or a registered) model on an uploaded image or a path, as
`blueprint.predict` runs it: the class, the value or the mask it predicts."""

import tempfile
from pathlib import Path

import streamlit as st

from blueprint.app.address import mlflow_ui
from blueprint.app.prediction import Tried, predict_image
from blueprint.app.run_reads import finished_runs, run_page, run_summary
from blueprint.app.shared import base_config
from blueprint.errors import BlueprintError

st.title("Try a model")
uri = str(base_config().tracking.uri)
runs = {run.info.run_id: run for run in finished_runs(uri)}
picked = st.selectbox(
    "finished run (name · model · best value · started)",
    list(runs),
    format_func=lambda run_id: run_summary(runs[run_id]),
    placeholder="no finished run with a model yet",
)
if picked is not None:
    st.markdown(f"[open the run in the MLflow UI]({run_page(mlflow_ui(), runs[picked])})")
named = st.text_input(
    "or a registered model (models:/<name>/<version>, models:/<name>@<alias>) or a .keras file"
)
reference = named.strip() or picked
if reference is None:
    st.info(f"no finished run with a model in {uri} yet: train one first")
    st.stop()
upload = st.file_uploader("an image", type=["png", "jpg", "jpeg", "bmp", "gif"])
path_text = st.text_input("or a path to an image", "")


def tried(path: Path) -> Tried:
    try:
        return predict_image(reference, uri, path)
    except BlueprintError as err:
        st.error(str(err))
        st.stop()


if upload is not None:  # read from a file of its own, removed once predicted
    with tempfile.TemporaryDirectory(prefix="blueprint-app-") as folder:
        path = Path(folder) / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        result = tried(path)
elif path_text:
    result = tried(Path(path_text).expanduser())
else:
    st.stop()
*pictures, right = st.columns(2 if result.mask is None else 3)
pictures[0].image(result.seen, caption="as the model sees it (its input size, enlarged)")
if result.mask is not None:
    pictures[1].image(result.mask, caption=f"the predicted mask: {result.legend}")
right.metric(result.label, result.value)
right.caption(result.caption)
if result.chart is not None:
    right.bar_chart(result.chart, height=260, x_label="class")
