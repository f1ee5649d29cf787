"""`make ui` serves the project's MLflow store on loopback."""

import json
import os
import signal
import subprocess
import time
import urllib.request

from tests.helpers import ROOT, free_port


def test_make_ui_serves_the_store_on_loopback(tmp_path) -> None:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.create_experiment("seen_by_ui", artifact_location=str(tmp_path / "mlruns"))
    port = free_port()
    server = subprocess.Popen(
        ["make", "--no-print-directory", "ui", f"PORT={port}", f"STORE={tmp_path}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # so the whole process group (make, mlflow, workers) stops below
    )
    url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=10"
    try:
        deadline, body = time.monotonic() + 90, None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = json.load(response)
            except OSError:
                time.sleep(0.5)
        assert body is not None, "the MLflow UI did not answer within 90 s"
        assert "seen_by_ui" in {e["name"] for e in body["experiments"]}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
