"""MLflow's server app (`mlflow server --app-name blueprint`, what `python -m blueprint.ui` runs)
with one change: a browser opening it reads runs as training runs.

MLflow 3's UI keeps a GenAI | Model training switch per browser, GenAI until the user flips it;
under GenAI a run without a logged model (a sweep's parent, a run stopped early) opens as a GenAI
evaluation: breadcrumb "Evaluations", GenAI sidebar, listed under "Evaluation runs". A link's
`workflowType=machine_learning` holds only until the next click. The UI has no setting for the
default, so its page gets one line of script that sets the switch to Model training where this
browser has not chosen yet (the switch's own browser storage key, `mlflow.workflowType_v1`: not
a public API; tests/test_mlflow_ui.py fails when MLflow changes it). A user who flips the
switch to GenAI keeps that choice.
"""

import json

from flask import Response, request
from mlflow.server import app as flask_app
from mlflow.server.fastapi_app import app  # noqa: F401 (the ASGI app uvicorn serves)

WORKFLOW_KEY = "mlflow.workflowType_v1"
TRAINING = "machine_learning"
SCRIPT = (
    f"<script>localStorage.getItem({json.dumps(WORKFLOW_KEY)}) === null && "
    f"localStorage.setItem({json.dumps(WORKFLOW_KEY)}, {json.dumps(json.dumps(TRAINING))});"
    "</script>"
)


@flask_app.after_request
def default_to_training(response: Response) -> Response:
    """The UI's page (MLflow serves it for `/`) with the script ahead of the UI's own."""
    if request.path != "/" or response.status_code != 200 or response.mimetype != "text/html":
        return response
    response.direct_passthrough = False  # a file response: read it to change it
    page = response.get_data(as_text=True)
    response.set_data(page.replace("<head>", f"<head>{SCRIPT}", 1))
    response.headers.pop("ETag", None)  # the file's: a cached copy without the script no match
    response.headers["Cache-Control"] = "no-cache"
    return response
