"""Train: pick data, model, optimizer and hyperparameters, start a run, watch its epochs."""

import pandas as pd
import streamlit as st
from omegaconf import OmegaConf

from blueprint.app.address import mlflow_ui
from blueprint.app.job import (
    TRAIN,
    VALIDATION,
    JobRunning,
    TrainingJob,
    composed,
    group_options,
)
from blueprint.app.run_reads import run_page
from blueprint.app.shared import app_jobs, base_config, base_overrides
from blueprint.errors import BlueprintError


def epoch_frame(**curves: list[float] | None) -> pd.DataFrame:
    """Curves by name, indexed by epoch from 1; one logged an epoch behind the other is shorter,
    one not logged yet is empty."""
    return pd.DataFrame(
        {
            name: pd.Series(values or [], index=range(1, len(values or []) + 1), dtype=float)
            for name, values in curves.items()
        }
    ).rename_axis("epoch")


def show_job(job: TrainingJob, live: bool) -> None:
    """The app's job (whichever tab started it): its overrides, Stop (live while it trains), its
    epochs and curves, then the outcome. Run as a fragment that redraws itself every second while
    the job is `live`; once it ends, the whole page redraws once and then stays still (a page
    redrawing itself every second could drop a click on Train)."""
    if live and not job.running:
        st.rerun()
    st.subheader(f"Run {job.run_name}")
    st.caption(" ".join(job.overrides[len(base_overrides()) :]))
    running = job.running  # read once: the outcome below matches the Stop drawn here
    # A callback runs before the fragment redraws, so the button drawn knows of a Stop just sent.
    st.button(
        "Stop",
        on_click=job.stop,
        disabled=not running or job.stopping,
        help="Ctrl-C: the MLflow run ends KILLED",
    )
    progress = job.progress()
    done = progress.epochs_done
    st.progress(min(done / job.epochs, 1.0), progress.label(job.epochs))
    if progress.curves:
        names = job.curve_names()
        for chart, (train, val) in zip(st.columns(2), (names[:2], names[2:]), strict=True):
            chart.markdown(f"**{train}** per epoch")
            chart.line_chart(
                epoch_frame(train=progress.curves.get(train), validation=progress.curves.get(val)),
                x_label="epoch",
                color=[TRAIN, VALIDATION],  # by column name, sorted: train, validation
            )
    if running:
        st.caption("stopping: the run ends KILLED..." if job.stopping else "training...")
    elif job.process.returncode == 0:
        st.success(f"finished: best {job.objective} = {progress.best:.4f}")
        if progress.run is not None:
            link = run_page(mlflow_ui(), progress.run)
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
if st.button("Train", type="primary", disabled=cfg is None):
    try:
        app_jobs().start(overrides)
    except JobRunning as err:  # one job at a time
        st.warning(str(err))
job = app_jobs().current
if job is not None:
    live = job.running
    st.fragment(show_job, run_every=1.0 if live else None)(job, live)
