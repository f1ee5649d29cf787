"""`python -m blueprint.app [--port 8501] [--mlflow-ui URL] [overrides ...]`: the trainer app,
served by Streamlit.

What `make app` runs, and the tests start: Streamlit's flags live here only. The overrides apply to
every run the app starts and to the stores it reads (e.g. `tracking.uri=...`); `--mlflow-ui` is
where the app's links to the MLflow UI point (`make ui`'s address by default).
"""

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from blueprint.app.address import DEFAULT_UI, UI_ENV

MAIN = Path(__file__).with_name("main.py")
# Loopback only, no browser opened, no usage statistics sent, no developer menu.
STREAMLIT_FLAGS = [
    *("--server.address", "127.0.0.1", "--server.headless", "true"),
    *("--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8501, help="on 127.0.0.1")
    parser.add_argument(
        "--mlflow-ui",
        default=os.environ.get(UI_ENV, DEFAULT_UI),
        help=f"the MLflow UI's address, for the app's links (default: ${UI_ENV} or {DEFAULT_UI})",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. tracking.uri=...")
    args = parser.parse_intermixed_args()  # `--port` before, after or among the overrides
    address = urlsplit(args.mlflow_ui)
    if address.scheme not in ("http", "https") or not address.netloc:
        print(
            f"error: --mlflow-ui={args.mlflow_ui} is not an http(s) address: give the MLflow UI's"
            f" as `make ui` prints it, e.g. --mlflow-ui={DEFAULT_UI}",
            file=sys.stderr,
        )
        sys.exit(2)
    streamlit = [sys.executable, "-m", "streamlit", "run", str(MAIN), *STREAMLIT_FLAGS]
    os.environ[UI_ENV] = args.mlflow_ui  # what the pages link to (blueprint/app/shared.py)
    # Streamlit replaces this process, so Ctrl-C reaches it as from `streamlit run`.
    os.execv(sys.executable, [*streamlit, "--server.port", str(args.port), "--", *args.overrides])


if __name__ == "__main__":
    main()
