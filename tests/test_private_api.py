"""The private parts of dependencies blueprint still uses, where no public path exists (docs:
development.md, "Private parts of dependencies"): each fails here by name when an upgrade moves it,
before the feature resting on it fails somewhere less obvious."""

import importlib
import subprocess
import sys

import pytest

PRIVATE_PARTS = [
    # (module, attribute path, what rests on it)
    ("keras", "Model._symbolic_build", "the training state built before the first step"),
    ("tensorflow.python.framework.ops", "_gradient_registry._registry", "freeing trials' graphs"),
    (
        "tensorflow.python.framework.convert_to_constants",
        "convert_variables_to_constants_v2",
        "frozen inference graphs for ONNX and TFLite exports",
    ),
    (
        "hydra_plugins.hydra_joblib_launcher._core",
        "process_joblib_cfg",
        "joblib launcher settings checked before a sweep writes anything",
    ),
    ("omegaconf", "DictConfig._get_full_key", "the key an instantiation error names"),
]


@pytest.mark.parametrize(("module", "path", "use"), PRIVATE_PARTS)
def test_a_private_part_blueprint_uses_is_still_there(module: str, path: str, use: str) -> None:
    found = importlib.import_module(module)
    for name in path.split("."):
        assert hasattr(found, name), f"{module}.{path} is gone; it serves {use} (development.md)"
        found = getattr(found, name)


def test_the_sweeper_imports_nothing_private_of_hydras_optuna_sweeper() -> None:
    """Its loop and search-space grammar are its own, on public APIs (issue 27)."""
    code = (
        "import sys, blueprint.sweeps.sweeper, hydra_plugins.blueprint_sweeper.blueprint_sweeper;"
        "print(any(m.startswith('hydra_plugins.hydra_optuna_sweeper._impl') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
