"""Try: a finished run's (or a registered) model on an uploaded image or a path, as
`blueprint.predict` runs it: the class, the value or the mask it predicts."""

import tempfile
from pathlib import Path

import streamlit as st

from blueprint.app.prediction import Tried, predict_image
from blueprint.app.shared import base_config
from blueprint.app.store import finished_runs
from blueprint.errors import BlueprintError

st.title("Try a model")
uri = str(base_config().tracking.uri)
runs = {f"{r.info.run_name} ({r.info.run_id[:8]})": r.info.run_id for r in finished_runs(uri)}
picked = st.selectbox("finished run", list(runs), placeholder="no finished run with a model yet")
named = st.text_input(
    "or a registered model (models:/<name>/<version>, models:/<name>@<alias>) or a .keras file"
)
reference = named.strip() or runs.get(picked)
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
