"""Fixtures over tests/helpers.py: composed configs and CLI runs that write only into tmp_path,
and a page in headless Chromium for the tests of what a person sees."""

import functools
import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from omegaconf import DictConfig

from tests.helpers import compose_into, run_train

# One TensorFlow thread per pool in this process and in every process a test starts (they inherit
# the environment). The suite runs two test processes on two cores, each starting more: with
# TensorFlow's default of a thread per core in each pool, idle threads spin for work and the suite
# spent about a fifth more CPU (test_sweeps.py with test_resume.py: 578 s of user time against
# 466 s; the whole suite 1071 s against 1202 s). One inter-op thread is what a sweep's two slots on
# two cores get anyway; TensorFlow has deadlock reports for it in other patterns (tensorflow#48418),
# none seen here. Read when TensorFlow starts its runtime, not on import; a user's runs keep the
# default.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """`compose_into(tmp_path, *overrides)` as a fixture."""
    return functools.partial(compose_into, tmp_path)


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """`run_train(tmp_path, *overrides)`: the CLI in a subprocess against a temporary store."""
    return functools.partial(run_train, tmp_path)


CHROMIUM = "/usr/bin/chromium"  # Debian's; .ci/run installs it. Playwright never downloads one.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page() -> Iterator:
    """A Playwright page in headless Chromium, 1400x900."""
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1400, "height": 900})
        browser.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with the most slow tests first (a stable sort: each file's tests keep their order).
    `--dist loadfile` hands out files in this order: a long file handed out last kept one worker
    busy for minutes after the other had finished."""
    slow = Counter(item.path for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.path])
