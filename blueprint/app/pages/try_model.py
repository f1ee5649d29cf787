"""Try: a finished run's (or a registered) model on an uploaded image or a path, as
`blueprint.predict` runs it."""

import tempfile
from pathlib import Path

import streamlit as st

from blueprint.app.prediction import predict_image
from blueprint.app.shared import base_config
from blueprint.app.store import finished_runs
from blueprint.errors import BlueprintError

st.title("Try a model")
uri = str(base_config().tracking.uri)
runs = {f"{r.info.run_name} ({r.info.run_id[:8]})": r.info.run_id for r in finished_runs(uri)}
picked = st.selectbox("finished run", list(runs), placeholder="no finished run with a model yet")
registered = st.text_input(
    "or a registered model (models:/<name>/<version> or models:/<name>@<alias>)"
)
reference = registered.strip() or runs.get(picked)
if reference is None:
    st.info(f"no finished run with a model in {uri} yet: train one first")
    st.stop()
upload = st.file_uploader("an image", type=["png", "jpg", "jpeg", "bmp", "gif"])
path_text = st.text_input("or a path to an image", "")
if upload is not None:
    folder = Path(tempfile.gettempdir()) / "blueprint-app"
    folder.mkdir(exist_ok=True)
    path = folder / Path(upload.name).name
    path.write_bytes(upload.getvalue())
elif path_text:
    path = Path(path_text).expanduser()
else:
    st.stop()
try:
    seen, table = predict_image(reference, uri, path)
except BlueprintError as err:
    st.error(str(err))
    st.stop()
left, right = st.columns(2)
left.image(seen, caption="as the model sees it (its input size, enlarged)", width=240)
top = table.iloc[0]
right.metric("predicted class", str(top["class"]))
right.caption(f"probability {top['probability']:.1%}")
right.bar_chart(table.set_index("class")["probability"], height=260, x_label="class")
