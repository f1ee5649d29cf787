"""`make dashboard`: Optuna Dashboard over the sweep store, on a study made directly with Optuna
(a sweep's name and parameters, three finished trials; nothing trained). Its JSON API lists the
study and its trials; headless Chromium finds them where a person looks, and takes the docs'
screenshots (sweeps.md; into tmp_path)."""

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from blueprint.sweeps.study import study_name_for
from tests.helpers import ROOT, assert_one_line_error, clean_env
from tests.servers import dashboard_server

SPACE = {
    "optimizer.lr": FloatDistribution(1e-4, 1e-1, log=True),
    "model": CategoricalDistribution(["cnn", "mlp"]),
}
TRIALS = [  # (params, value) in trial order
    ({"optimizer.lr": 0.001, "model": "cnn"}, 0.97),
    ({"optimizer.lr": 0.01, "model": "mlp"}, 0.91),
    ({"optimizer.lr": 0.0003, "model": "cnn"}, 0.95),
]


@pytest.fixture
def study_store(tmp_path: Path) -> tuple[str, str]:
    """A SQLite sweep store holding one study named as a sweep names it; (its URL, the name)."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    name = study_name_for("dashboard", SPACE, ["direction=maximize"])
    study = optuna.create_study(storage=url, study_name=name, direction="maximize")
    for params, value in TRIALS:
        study.add_trial(optuna.trial.create_trial(params=params, distributions=SPACE, value=value))
    return url, name


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def test_the_dashboard_serves_the_study_and_its_trials(study_store) -> None:
    url, name = study_store
    with dashboard_server(f"hydra.sweeper.storage={url}") as address:
        with urllib.request.urlopen(address, timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        api = address.removesuffix("/dashboard") + "/api/studies"
        (study,) = get_json(api)["study_summaries"]
        assert study["study_name"] == name and study["directions"] == ["maximize"]
        trials = get_json(f"{api}/{study['study_id']}?after=0")["trials"]
    shown = [
        ({p["name"]: p["param_external_value"] for p in t["params"]}, t["values"]) for t in trials
    ]
    assert shown == [({k: str(v) for k, v in p.items()}, [value]) for p, value in TRIALS]


def test_ctrl_c_stops_it_while_requests_arrive(study_store) -> None:
    """A Ctrl-C that lands inside a request still stops it (dashboard_server checks the exit)."""
    stop = threading.Event()

    def poll(url: str) -> None:  # as the page does, without pause
        while not stop.is_set():
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as answer:
                answer.read()

    try:
        with dashboard_server(f"hydra.sweeper.storage={study_store[0]}") as address:
            api = address.removesuffix("/dashboard") + "/api/studies/1?after=0"
            for _ in range(2):
                threading.Thread(target=poll, args=(api,), daemon=True).start()
            time.sleep(2)
    finally:
        stop.set()


def run_dashboard(*args: str) -> subprocess.CompletedProcess:
    """`python -m blueprint.dashboard <args>` where it ends by itself (bad input)."""
    return subprocess.run(
        [sys.executable, "-m", "blueprint.dashboard", *args],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_missing_store_is_one_line_naming_the_command_that_makes_one(tmp_path) -> None:
    store = tmp_path / "multirun" / "optuna.db"
    result = run_dashboard(f"hydra.sweeper.storage=sqlite:///{store}")
    assert_one_line_error(result, "no sweeps yet", str(store), "--multirun")
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_a_dead_server_is_one_line_without_the_password(tmp_path) -> None:
    url = "postgresql+psycopg://blueprint:s3cret@127.0.0.1:1/optuna"  # nothing listens on port 1
    result = run_dashboard(f"hydra.sweeper.storage={url}")
    assert_one_line_error(result, "blueprint:***@127.0.0.1:1/optuna", "hydra.sweeper.storage")
    assert "s3cret" not in result.stdout + result.stderr


def test_a_port_in_use_is_one_line_naming_the_setting(study_store) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_dashboard(f"--port={port}", f"hydra.sweeper.storage={study_store[0]}")
    assert_one_line_error(result, f"127.0.0.1:{port}", "--port", "DASHBOARD_PORT")


@pytest.mark.slow  # drives Chromium, which `make test` does not need (.ci/run installs it)
def test_a_person_finds_the_study_and_its_trials(study_store, page, tmp_path) -> None:
    url, name = study_store
    with dashboard_server(f"hydra.sweeper.storage={url}") as address:
        page.goto(address)
        page.get_by_role("link", name=name).click(timeout=30_000)
        page.get_by_text("Best Trial (number=0)").wait_for(timeout=30_000)
        page.get_by_text("Params = [optimizer.lr: 0.001, model: cnn]").wait_for()
        page.wait_for_timeout(1500)  # let the history chart draw
        page.screenshot(path=tmp_path / "dashboard-history.png")

        page.locator("a[href$='/trials']").click()
        for number, (params, value) in reversed(list(enumerate(TRIALS))):  # the best one last
            page.get_by_text(f"Trial {number}", exact=True).click()
            detail = page.get_by_text(f"Trial {number} (trial_id=").locator("xpath=..")
            detail.wait_for(timeout=10_000)
            text = detail.inner_text()
            assert str(value) in text, text
            for key, param in params.items():
                assert f"{key} {param}" in text.replace("\t", " "), text
        page.mouse.move(700, 800)  # off the list, and its click ripple faded
        page.wait_for_timeout(1000)
        page.screenshot(path=tmp_path / "dashboard-trials.png")
