"""Train: pick data, model, optimizer and hyperparameters, start a run, watch its epochs."""

import pandas as pd
import streamlit as st
from omegaconf import OmegaConf

from blueprint.app.job import TrainingJob, composed, group_options
from blueprint.app.shared import UI, base_config, base_overrides
from blueprint.app.store import run_page
from blueprint.errors import BlueprintError


@st.fragment(run_every=1.0)
def show_progress() -> None:
    """Redrawn every second while the page is open: epochs, curves, then the outcome."""
    job: TrainingJob = st.session_state["job"]
    progress = job.progress()
    st.subheader(f"Run {job.run_name}")
    done = progress.epochs_done
    st.progress(min(done / job.epochs, 1.0), f"epoch {done} of {job.epochs}")
    if progress.curves:
        curves = pd.DataFrame(progress.curves, index=pd.RangeIndex(1, done + 1, name="epoch"))
        losses = [name for name in curves if "loss" in name]
        charts = st.columns(2)
        charts[0].line_chart(curves[losses], x_label="epoch")
        if len(losses) < len(curves.columns):
            charts[1].line_chart(curves.drop(columns=losses), x_label="epoch")
    if job.running:
        st.caption("training...")
    elif job.process.returncode == 0:
        st.success(f"finished: best {job.objective} = {progress.best:.4f}")
        if progress.run is not None:
            link = run_page(UI, progress.run)
            st.markdown(f"[open the run in the MLflow UI]({link}) (`make ui` serves it)")
    elif job.stopped:
        st.warning("stopped: the MLflow run ends KILLED")
    else:
        st.error(job.error())


st.title("Train")
defaults = base_config()
left, right = st.columns(2)
with left:
    data = st.selectbox("data", group_options("data"))
    data_path = st.text_input("data.path (data=folder, csv or npz: your images)", "")
    model = st.selectbox("model", group_options("model"))
    optimizer = st.selectbox("optimizer", group_options("optimizer"))
with right:
    trainer = defaults.trainer
    lr = st.number_input("optimizer.lr", value=float(defaults.optimizer.lr), format="%.5f")
    epochs = st.number_input("trainer.epochs", min_value=1, value=int(trainer.epochs))
    batch = st.number_input("trainer.batch_size", min_value=1, value=int(trainer.batch_size))
    extra = st.text_input("extra overrides (Hydra syntax, space-separated)", "")
overrides = [
    *base_overrides(),
    f"data={data}",
    *([f"data.path={data_path}"] if data_path else []),
    f"model={model}",
    f"optimizer={optimizer}",
    f"optimizer.lr={lr:g}",
    f"trainer.epochs={epochs}",
    f"trainer.batch_size={batch}",
    *extra.split(),
]
try:
    cfg = composed(overrides)
except BlueprintError as err:
    st.error(str(err))
    cfg = None
if cfg is not None:
    with st.expander("composed config"):
        st.code(OmegaConf.to_yaml(cfg), language="yaml")
job: TrainingJob | None = st.session_state.get("job")
busy = job is not None and job.running
start, stop = st.columns(2)
if start.button("Train", type="primary", disabled=cfg is None):
    if busy:
        st.warning(f"{job.run_name} is still training: stop it or wait for it to end")
    else:
        st.session_state["job"] = job = TrainingJob.start(overrides)
if stop.button("Stop", disabled=not busy):
    job.stop()
if job is not None:
    show_progress()
