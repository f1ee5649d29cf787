"""The search-space grammar gives what the pinned Hydra Optuna sweeper gives, without its `_impl`.

Upstream's `create_params_from_overrides` is imported here only as the reference oracle.
"""

import ast
import random
from pathlib import Path

import pytest
from hydra_plugins.hydra_optuna_sweeper._impl import (
    OptunaSweeperImpl,
    create_params_from_overrides,
)
from omegaconf import OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

import blueprint.sweeps.search_space as search_space
from blueprint.sweeps.search_space import (
    SearchSpace,
    grid_space,
    grid_values,
    params_overrides,
    parse_search_space,
    spelled,
)

# (sweep value, the distribution it must parse to)
SWEEPS = [
    ("choice(1,2)", CategoricalDistribution([1, 2])),
    ("choice(true, false)", CategoricalDistribution([True, False])),
    ("choice('hello', 'world')", CategoricalDistribution(["hello", "world"])),
    ("a,b,c", CategoricalDistribution(["a", "b", "c"])),
    ("choice(1.5,2)", CategoricalDistribution([1.5, 2])),
    ("choice([1,2],[3])", CategoricalDistribution(["[1,2]", "[3]"])),  # lists: as strings
    ("sort(3,1,2)", CategoricalDistribution([1, 2, 3])),
    ("float(range(1,3))", CategoricalDistribution([1.0, 2.0])),  # cast: listed values
    ("range(16,64)", IntDistribution(16, 63, step=1)),
    ("range(16,72,8)", IntDistribution(16, 64, step=8)),
    ("range(5,1,-1)", IntDistribution(2, 5, step=1)),
    ("range(0.1, 0.5, step=0.1)", FloatDistribution(0.1, 0.4, step=0.1)),
    ("range(0.1,0.35,0.1)", FloatDistribution(0.1, 0.3, step=0.1)),
    ("range(0.3,0.1,-0.1)", FloatDistribution(0.2, 0.3, step=0.1)),
    ("range(1.0,3.0)", FloatDistribution(1.0, 2.0, step=1.0)),
    ("range(1e-5,5e-5,1e-5)", FloatDistribution(1e-5, 4e-5, step=1e-5)),
    # floats cannot carry these decimals within Optuna's step: the listed values, as upstream
    # 1000.1234567890123456 is no float: the listed values, not a float step (upstream's check)
    (
        "range(0.1234567890123456,2000,1000)",
        CategoricalDistribution([0.1234567890123456, 1000.1234567890123456]),
    ),
    ("interval(1, 5)", FloatDistribution(1.0, 5.0)),
    ("interval(0.0001,0.01)", FloatDistribution(1e-4, 1e-2)),
    ("int(interval(16, 64))", IntDistribution(16, 64)),
    ("tag(log, interval(1e-4, 1e-2))", FloatDistribution(1e-4, 1e-2, log=True)),
    ("tag(log, int(interval(16, 64)))", IntDistribution(16, 64, log=True)),
]


def upstream(overrides: list[str]) -> SearchSpace:
    """What the pinned upstream sweeper searches: its parse, less the fixed keys (its sweep())."""
    space, fixed, fixed_overrides = create_params_from_overrides(overrides)
    return SearchSpace({k: d for k, d in space.items() if k not in fixed}, fixed, fixed_overrides)


@pytest.mark.parametrize(("value", "expected"), SWEEPS)
def test_sweeps_parse_as_upstream_parses_them(value: str, expected: BaseDistribution) -> None:
    parsed = parse_search_space([f"model.units={value}"])
    assert parsed == upstream([f"model.units={value}"])
    assert parsed == SearchSpace({"model.units": expected}, {}, [])


def test_shuffled_range_is_categorical_as_upstream() -> None:
    random.seed(3)
    parsed = parse_search_space(["x=shuffle(range(1,6))"])
    random.seed(3)
    assert parsed == upstream(["x=shuffle(range(1,6))"])
    dist = parsed.space["x"]
    assert isinstance(dist, CategoricalDistribution)
    assert sorted(dist.choices) == [1, 2, 3, 4, 5]


def test_fixed_values_and_fixed_overrides_as_upstream() -> None:
    overrides = [
        "optimizer.lr=choice(0.001,0.01)",
        "trainer.epochs=5",
        "+foo=bar",
        "++b@pkg=2",
        "data.classes=[1,2]",
        "name='hello world'",
        "~callbacks",
        "~trainer.seed=1",
        "model.units=range(16,64)",
        "model.units=32",  # a fixed value wins over a sweep of its key, as in upstream's sweep()
    ]
    parsed = parse_search_space(overrides)
    assert parsed == upstream(overrides)
    assert parsed.space == {"optimizer.lr": CategoricalDistribution([0.001, 0.01])}
    assert parsed.fixed == {
        "trainer.epochs": "5",
        "+foo": "bar",
        "++b@pkg": "2",
        "data.classes": "[1,2]",
        "name": "'hello world'",
        "model.units": "32",
    }
    assert parsed.fixed_overrides == ["~callbacks", "~trainer.seed=1"]


def test_params_overrides_as_upstream() -> None:
    params = OmegaConf.create({"optimizer.lr": "tag(log, interval(1e-4, 1e-2))", "epochs": 3})
    sweeper = OptunaSweeperImpl(None, "minimize", None, None, 1, 1, 0.0, None, params)
    assert params_overrides(params) == sweeper._parse_sweeper_params_config()
    assert params_overrides(params) == [
        "optimizer.lr=tag(log, interval(1e-4, 1e-2))",
        "epochs=3",
    ]
    assert params_overrides(None) == [] and params_overrides({}) == []


@pytest.mark.parametrize("value", [value for value, _ in SWEEPS])
def test_spelled_parses_back_to_the_same_distribution(value: str) -> None:
    dist = parse_search_space([f"x={value}"]).space["x"]
    assert parse_search_space([f"x={spelled(dist)}"]).space == {"x": dist}


def test_spelled_reads_as_a_user_writes_it() -> None:
    assert spelled(CategoricalDistribution([0.001, 0.003])) == "choice(0.001,0.003)"
    assert spelled(CategoricalDistribution(["adam", "sgd"])) == "choice(adam,sgd)"
    assert spelled(FloatDistribution(1e-4, 1e-2)) == "interval(0.0001,0.01)"
    assert spelled(FloatDistribution(1e-4, 1e-2, log=True)) == "tag(log,interval(0.0001,0.01))"
    assert spelled(IntDistribution(16, 64)) == "int(interval(16,64))"
    assert spelled(IntDistribution(16, 64, log=True)) == "tag(log,int(interval(16,64)))"
    assert spelled(IntDistribution(16, 64, step=8)) == "range(16,72,8)"
    assert spelled(FloatDistribution(0.1, 0.4, step=0.1)) == "range(0.1,0.5,0.1)"


@pytest.mark.parametrize(
    "choice", ["5", "true", "it's", "c\\", "a\\'b", "a,b", "x)", "[1,2]", "", " pad ", "a b"]
)
def test_spelled_quotes_strings_only_where_hydra_needs_it(choice: str) -> None:
    dist = CategoricalDistribution([choice, "plain"])
    assert spelled(dist).endswith(",plain)")
    assert parse_search_space([f"x={spelled(dist)}"]).space == {"x": dist}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("choice(a,b)", ["a", "b"]),
        ("range(16,64,16)", [16, 32, 48]),
        ("int(interval(1,3))", [1, 2, 3]),
        ("range(0.1,0.5,0.1)", [0.1, 0.2, 0.3, 0.4]),
        ("range(0.5,0.1,-0.2)", [0.3, 0.5]),
    ],
)
def test_grid_values_as_upstream(value: str, expected: list) -> None:
    dist = parse_search_space([f"x={value}"]).space["x"]
    assert grid_values(dist) == expected
    assert grid_values(dist) == list(OptunaSweeperImpl._to_grid_sampler_choices(dist))


def test_grid_of_a_continuous_range_names_key_and_fix() -> None:
    with pytest.raises(ValueError, match=r"not interval\(0.0,0.5\): list values"):
        grid_values(FloatDistribution(0.0, 0.5))
    space = parse_search_space(["a=1,2", "model.dropout=interval(0,0.5)"]).space
    with pytest.raises(ValueError, match=r"^model\.dropout: a grid takes listed values"):
        grid_space(space)
    assert grid_space({"a": space["a"]}) == {"a": [1, 2]}


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("model.units=range(16,16)", ["model.units: ", "no value", "range(16,16)"]),
        ("model.units=range(1,5,0)", ["model.units: ", "nonzero step"]),
        ("model.units=range(5,1)", ["model.units: ", "no value"]),
        ("optimizer.lr=interval(5,1)", ["optimizer.lr: ", "low <= high"]),
        ("optimizer.lr=tag(log,interval(0,1))", ["optimizer.lr: ", "low > 0"]),
        ("optimizer.lr=choice(a,b", ["optimizer.lr: ", "Hydra cannot parse it"]),
        ("optimizer.lr=choice()", ["optimizer.lr: ", "empty choice"]),
        ("model=glob(*)", ["model: ", "not a search space", "choice, range or interval"]),
        ("optimizer.lr=range(1,2,1e-17)", ["optimizer.lr: ", "lists 100000000000000000 values"]),
    ],
)
def test_errors_name_the_key(override: str, fragments: list[str]) -> None:
    with pytest.raises(ValueError) as caught:
        parse_search_space(["ok=choice(1,2)", override])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(fragments[0])
    for fragment in fragments[1:]:
        assert fragment in message


def test_imports_nothing_from_the_upstream_sweeper() -> None:
    tree = ast.parse(Path(search_space.__file__).read_text())
    modules = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules and not any(m.startswith("hydra_plugins") for m in modules)
