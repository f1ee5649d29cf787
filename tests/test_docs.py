"""The docs site builds with no broken link, and every command the README and its pages show is one
blueprint takes as written, as far as that can be known without training.

Commands are the lines of the ```bash blocks of README.md and of every page (a `\\` continuation
joined, a here-document's body skipped, `# ...` comments dropped). Of each:
- `make <target> [VAR=value ...]`: the target is one of the Makefile's, every VAR one it sets; the
  ARGS of `train`, `app`, `dashboard` and `info` (each composes conf/train.yaml with them) compose
  as a training run's overrides do, below.
- `python -m <module>`: the module exists (found, not imported).
- `python -m blueprint.train ...`: composed with Hydra's compose API and checked by
  `blueprint.validation.validate`, as the command line checks it before a run starts. A
  `--multirun`'s overrides are first parsed into its search space (`blueprint.sweeps`, with the
  `hydra.sweeper.params` of its `hparams_search`), and one trial is composed with every dimension at
  its first value, as the sweeper checks a sweep before its first trial.
- `python -m blueprint.predict|evaluate|export ...`: composed and checked by their own
  `blueprint.serving.command.compose_command`; their `data...` overrides (evaluate, export) by
  `blueprint.serving.training_data.training_config`, as the commands do (it imports TensorFlow:
  imported where such a command is checked, not as this file loads).

What is not composed, by this rule only: Hydra's flags (tokens starting with `-`, and the value of
`--cfg`/`-c`/`--package`/`-p`), which are not overrides; every placeholder `<...>` is put in as the
value `placeholder`. Words are expanded as bash expands them (`$HOME`, and `~` at a word's start
or after `name=` where name is a shell identifier; blueprint's commands expand the rest, as in
`data.path=~/photos`), then composed as the strings they are: a path
need not exist, only a run reads it. A ```yaml block whose first line is
`# conf/<group>/<option>.yaml` is a file a page asks the reader to write: it is written into a copy
of conf/ that every command composes against.
"""

import importlib.util
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

import blueprint.resolvers  # noqa: F401  (registers the resolvers conf/ uses)
from blueprint.plumbing.home_paths import home_expanded
from blueprint.schema import EvaluateRun, ExportRun, PredictRun
from blueprint.serving.command import compose_command
from blueprint.sweeps.search_space import params_overrides, parse_search_space
from blueprint.sweeps.sweeper import first_value, job_overrides
from blueprint.validation import validate
from tests.helpers import CONF_DIR, DOCS_PAGES, ROOT, free_port
from tests.servers import foreground_job, wait_until_answering

MKDOCS_YML = DOCS_PAGES.parent / "mkdocs.yml"
DOCUMENTS = [ROOT / "README.md", *sorted(DOCS_PAGES.glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?")
PLACEHOLDER = re.compile(r"<[^<>\n]+>")
SHELL_ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*=)(~.*)$")  # bash expands ~ after it
USER_CONFIG = re.compile(r"^# (conf/[\w/]+\.yaml)\s*$")
HYDRA_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p"}
COMMANDS_OF_A_MODEL = {"predict": PredictRun, "evaluate": EvaluateRun, "export": ExportRun}
MAKE_TRAIN_ARGS = {"train", "app", "dashboard", "info"}  # their ARGS: conf/train.yaml overrides


@dataclass(frozen=True)
class Command:
    where: str  # file:line, relative to the checkout
    tokens: tuple[str, ...]


def blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """(language, first line number, lines) of each fenced block."""
    found, language, start, body = [], None, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        fence = FENCE.match(line)
        if fence and language is None:
            language, start, body = fence[1], number + 1, []
        elif line.startswith("```") and language is not None:
            found.append((language, start, body))
            language = None
        elif language is not None:
            body.append(line)
    return found


def expanded(word: str) -> str:
    """`word` as bash hands it to a command: variables, and `~` where bash expands it."""
    word = os.path.expandvars(word)
    assignment = SHELL_ASSIGNMENT.match(word)
    if assignment:
        return assignment[1] + os.path.expanduser(assignment[2])
    return os.path.expanduser(word)


def commands_of(path: Path) -> list[Command]:
    """The command lines of `path`'s bash blocks, split as the shell splits them."""
    found = []
    for language, start, body in blocks(path.read_text()):
        if language != "bash":
            continue
        line, first, heredoc_end = "", start, None
        for number, text in enumerate(body, start):
            if heredoc_end is not None:
                heredoc_end = None if text.strip() == heredoc_end else heredoc_end
                continue
            if not line:
                first = number
            if text.rstrip().endswith("\\"):
                line += text.rstrip()[:-1] + " "
                continue
            line += text
            heredoc = HEREDOC.search(line)
            if heredoc:
                heredoc_end, line = heredoc[1], line[: heredoc.start()]
            words = shlex.split(PLACEHOLDER.sub("placeholder", line), comments=True)
            if words:  # then as blueprint's commands take them (`data.path=~/photos`)
                tokens = tuple(home_expanded([expanded(word) for word in words]))
                found.append(Command(f"{path.relative_to(ROOT)}:{first}", tokens))
            line = ""
    return found


COMMANDS = [command for path in DOCUMENTS for command in commands_of(path)]


def module_of(tokens: tuple[str, ...]) -> tuple[str, list[str]] | None:
    """(module, its arguments) of a `python -m <module> ...` line."""
    for i, token in enumerate(tokens[:-2]):
        if Path(token).name.startswith("python") and tokens[i + 1] == "-m":
            return tokens[i + 2], list(tokens[i + 3 :])
    return None


def overrides_of(arguments: list[str]) -> tuple[list[str], bool]:
    """(the overrides, whether it is a --multirun): Hydra's flags and their values left out."""
    overrides, multirun, skip = [], False, False
    for argument in arguments:
        if skip:
            skip = False
        elif argument in ("--multirun", "-m"):
            multirun = True
        elif argument.startswith("-"):
            skip = argument in HYDRA_FLAGS_WITH_VALUE
        else:
            overrides.append(argument)
    return overrides, multirun


@pytest.fixture(scope="module")
def conf_dir(tmp_path_factory) -> Path:
    """conf/ with the config files the pages ask the reader to write."""
    conf = tmp_path_factory.mktemp("conf") / "conf"
    subprocess.run(["cp", "-r", str(CONF_DIR), str(conf)], check=True)
    for path in DOCUMENTS:
        for language, _, body in blocks(path.read_text()):
            named = USER_CONFIG.match(body[0]) if language == "yaml" and body else None
            if named:
                target = conf.parent / named[1]
                assert not (ROOT / named[1]).exists(), f"{named[1]} is shipped: not the user's"
                target.write_text("\n".join(body) + "\n")
    return conf


def composed_training(conf: Path, overrides: list[str], run_dir: Path) -> DictConfig:
    """conf/train.yaml with `overrides`, Hydra's node included, checked as a run checks it."""
    with initialize_config_dir(str(conf), version_base=None):
        cfg = compose(
            "train",
            overrides=[*overrides, f"paths.output_dir={run_dir}"],
            return_hydra_config=True,
        )
    validate(cfg)
    return cfg


def one_trial(conf: Path, overrides: list[str], run_dir: Path) -> DictConfig:
    """A sweep's first trial (every dimension at its first value), composed and checked."""
    space = parse_search_space(overrides)
    first = {name: first_value(dist) for name, dist in space.space.items()}
    sweep = composed_training(conf, job_overrides(space, first), run_dir)
    params = sweep.hydra.sweeper.get("params")
    declared = OmegaConf.to_container(params) if params else None
    space = parse_search_space([*params_overrides(declared), *overrides])  # as the sweeper
    first = {name: first_value(dist) for name, dist in space.space.items()}
    return composed_training(conf, job_overrides(space, first), run_dir)


def check_training(conf: Path, arguments: list[str], run_dir: Path) -> None:
    overrides, multirun = overrides_of(arguments)
    (one_trial if multirun else composed_training)(conf, overrides, run_dir)


MAKEFILE = (ROOT / "Makefile").read_text()
MAKE_TARGETS = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, flags=re.MULTILINE))
MAKE_VARIABLES = set(re.findall(r"^([A-Z_]+)\s*[?:]?=", MAKEFILE, flags=re.MULTILINE))


def test_the_docs_site_builds_strictly(tmp_path) -> None:
    """A broken link or anchor, or a page left out of nav, is a warning: --strict fails on it."""
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(MKDOCS_YML), "-d", site],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for page in DOCS_PAGES.glob("*.md"):
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.is_file(), f"{page.name} was not built"
    assert (site / "screenshots" / "train.png").is_file()


def test_the_readmes_links_lead_to_files() -> None:
    """README is not part of the site: its links to the pages (and images) are checked here."""
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if "://" not in link]
    assert any(link.startswith("blueprint/docs/pages/") for link in local)
    for link in local:
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"


def test_the_docs_show_commands_of_every_kind() -> None:
    """The extraction finds what the test below checks (a parser gone blind would pass it)."""
    kinds = {module_of(c.tokens)[0] if module_of(c.tokens) else c.tokens[0] for c in COMMANDS}
    assert {"make", "blueprint.train", "blueprint.predict", "blueprint.export"} <= kinds, kinds
    multiruns = [c for c in COMMANDS if "--multirun" in c.tokens]
    assert len(COMMANDS) > 80 and len(multiruns) > 15, (len(COMMANDS), len(multiruns))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.where)
def test_every_documented_command_is_one_blueprint_takes(command, conf_dir, tmp_path) -> None:
    tokens = command.tokens
    if tokens[0] == "make":
        targets = [t for t in tokens[1:] if "=" not in t]
        variables = dict(t.split("=", 1) for t in tokens[1:] if "=" in t)
        assert targets and set(targets) <= MAKE_TARGETS, f"{command.where}: {targets}"
        assert set(variables) <= MAKE_VARIABLES, f"{command.where}: {variables}"
        if "ARGS" in variables and set(targets) & MAKE_TRAIN_ARGS:
            check_training(conf_dir, shlex.split(variables["ARGS"]), tmp_path)
        return
    found = module_of(tokens)
    if found is None:  # a shell command (export, pip, conda ...): not blueprint's
        return
    module, arguments = found
    assert importlib.util.find_spec(module), f"{command.where}: no module {module}"
    name = module.removeprefix("blueprint.")
    if name == "train":
        check_training(conf_dir, arguments, tmp_path)
    elif name in COMMANDS_OF_A_MODEL:
        from blueprint.serving.training_data import split_data_overrides, training_config

        own, data = split_data_overrides(arguments)  # as the command splits them
        compose_command(name, own, COMMANDS_OF_A_MODEL[name])
        if data:
            training_config([], data)


@pytest.mark.slow  # drives Chromium, which `make test` does not need (.ci/run installs it)
def test_a_newcomer_finds_a_page_by_the_menu_and_by_search(page, tmp_path) -> None:
    """`make docs` as a person uses it: every nav entry in the menu, a page opened from it shows
    its commands, the search box finds a page by a word in it, and Ctrl-C stops it cleanly."""
    titles = [next(iter(entry)) for entry in yaml.safe_load(MKDOCS_YML.read_text())["nav"]]
    port, log = free_port(), tmp_path / "docs.log"
    with open(log, "w") as out:
        server = foreground_job(  # Ctrl-C as a terminal sends it, to its group
            ["make", "--no-print-directory", "docs", f"DOCS_PORT={port}"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_answering(server, f"http://127.0.0.1:{port}/", "make docs", 60)
        page.goto(f"http://127.0.0.1:{port}/")
        menu = page.locator("nav.md-nav--primary")
        for title in titles:
            assert menu.get_by_role("link", name=title, exact=True).is_visible(), title
        menu.get_by_role("link", name="Sweeps", exact=True).click()
        page.wait_for_url("**/sweeps/", timeout=10_000)
        assert page.locator("article h1").inner_text().startswith("Sweeps")
        commands = page.locator("pre code").first.inner_text()
        assert "python -m blueprint.train --multirun" in commands, commands
        page.screenshot(path=tmp_path / "docs-sweeps.png")

        search = page.locator("input.md-search__input")
        search.click()
        search.press_sequentially("interruptions", delay=30)  # as typed: the index answers keys
        results = page.locator(".md-search-result")
        results.get_by_text("matching document").wait_for(timeout=15_000)
        assert "Sweeps" in results.inner_text(), results.inner_text()
        page.screenshot(path=tmp_path / "docs-search.png")
    finally:
        os.killpg(server.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
        server.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()
