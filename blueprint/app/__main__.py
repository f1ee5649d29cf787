"""`python -m blueprint.app [--port 8501] [overrides ...]`: the trainer app, served by Streamlit.

What `make app` runs, and the tests start: Streamlit's flags live here only. The overrides apply to
every run the app starts and to the stores it reads (e.g. `tracking.uri=...`).
"""

import argparse
import os
import sys
from pathlib import Path

MAIN = Path(__file__).with_name("main.py")
# Loopback only, no browser opened, no usage statistics sent, no developer menu.
STREAMLIT_FLAGS = [
    *("--server.address", "127.0.0.1", "--server.headless", "true"),
    *("--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8501, help="on 127.0.0.1")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. tracking.uri=...")
    args = parser.parse_intermixed_args()  # `--port` before, after or among the overrides
    streamlit = [sys.executable, "-m", "streamlit", "run", str(MAIN), *STREAMLIT_FLAGS]
    # Streamlit replaces this process, so Ctrl-C reaches it as from `streamlit run`.
    os.execv(sys.executable, [*streamlit, "--server.port", str(args.port), "--", *args.overrides])


if __name__ == "__main__":
    main()
