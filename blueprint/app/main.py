"""The trainer app: `make app`, or `python -m blueprint.app [--port N] [overrides]`.

Three pages: Train (compose a run from conf/'s options, start it, watch its epochs, stop it),
Try (a finished run's model on an image) and Sweeps (the studies, as `make sweeps` lists them).
Overrides after `--` apply to every run the app starts and to the stores it reads (e.g.
`tracking.uri=...`). The pages are thin: the work is in blueprint/app/job.py, store.py and
prediction.py.
"""

import streamlit as st

st.set_page_config(page_title="blueprint", layout="wide")
st.navigation(
    [
        st.Page("pages/train.py", title="Train", default=True),
        st.Page("pages/try_model.py", title="Try"),
        st.Page("pages/sweeps.py", title="Sweeps"),
    ]
).run()
