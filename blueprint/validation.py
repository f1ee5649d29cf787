"""Checks the composed config against blueprint.schema before anything is written or imported.

One mechanism for every key a run reads: a bad value costs no training time, no MLflow run and no
files, and the user reads one line naming the key, what is wrong and a valid example.
"""

import re
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException
from pydantic import BaseModel, ValidationError

from blueprint.errors import ConfigError, first_line
from blueprint.schema import GROUPS, Run, schema_for


def validate(cfg: DictConfig) -> None:
    """Raises ConfigError naming the first value that cannot work and a valid example.

    The run-wide keys come first, then the groups in GROUPS order (trainer before data), so a
    value shared by interpolation (`data.seed: ${trainer.seed}`) is reported where it is set.
    """
    keys = [key for key in cfg if key != "hydra"]  # Hydra's own node (a sweep's full config)
    groups = [key for key in keys if key not in Run.model_fields and OmegaConf.is_dict(cfg[key])]
    check(Run, {key: _resolved(cfg, key) for key in keys if key not in groups}, prefix="")
    order = list(GROUPS)
    for group in sorted(groups, key=lambda g: order.index(g) if g in order else len(order)):
        node = _resolved(cfg, group)
        schema = schema_for(group, node)
        if schema is not None:
            check(schema, node, prefix=group)


def _resolved(cfg: DictConfig, key: str) -> Any:
    """A top-level key as plain values, its interpolations resolved."""
    try:
        node = cfg[key]
        if not OmegaConf.is_config(node):
            return node
        return OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:  # `???` in a config: the user must give it
        where = err.full_key or key
        raise ConfigError(f"{where} has no value (???); set it, e.g. {where}=<value>") from None
    except OmegaConfBaseException as err:  # an interpolation that cannot be resolved
        raise ConfigError(f"{err.full_key or key}: {first_line(err)}") from None


def check(schema: type[BaseModel], values: Any, prefix: str) -> None:
    """Validates `values` (the node at `prefix`) against `schema`; the first error is raised."""
    try:
        schema.model_validate(values)
    except ValidationError as err:
        raise ConfigError(describe(schema, either(err.errors()), values, prefix)) from None


# How pydantic tags the types of a union (`Literal["auto"] | int`) in an error's location.
UNION_TAG = re.compile(r"^(literal\[.*\]|constrained-\w+|int|float|str|bool|none)$")


def either(errors: list[Any]) -> Any:
    """The first error; where the key takes one of several types (`auto` or a number), pydantic
    reports one error per type, each under the type's tag: one error naming every choice."""
    first = errors[0]
    *key, tag = first["loc"] or ("",)
    if not key or not isinstance(tag, str) or not UNION_TAG.match(tag):
        return first
    choices = [e for e in errors if e["loc"][:-1] == tuple(key) and e["input"] == first["input"]]
    rules = [e["msg"].replace("Input should be ", "") for e in choices]
    return {**first, "loc": tuple(key), "msg": f"Input should be {' or '.join(rules)}"}


def describe(schema: type[BaseModel], error: Any, values: Any, prefix: str) -> str:
    """One line for a pydantic error: `<key>=<value> is invalid: <rule>; e.g. <key>=<example>`.

    An error inside a list names the list and the entry: `model.filters=[0] is invalid: entry 0:`.
    """
    loc = [str(part) for part in error["loc"]]
    if not loc:  # a rule over several keys states itself in full
        return str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
    entry = next((i for i, part in enumerate(error["loc"]) if isinstance(part, int)), None)
    if entry is not None and isinstance(values, dict):
        node = values
        for part in error["loc"][:entry]:
            node = node[part]
        error = {**error, "input": node, "msg": f"entry {error['loc'][entry]}: {error['msg']}"}
        loc = loc[:entry]
    key = ".".join([prefix, *loc] if prefix else loc)
    if error["type"] == "missing":
        return f"{key} is missing; add it to the config or the command line"
    if error["type"] == "extra_forbidden":
        keys = ", ".join(f.alias or name for name, f in schema.model_fields.items())
        return f"{key} is not a key of {prefix or 'the config'}; remove it (its keys: {keys})"
    rule = error["msg"].replace("Value error, ", "").replace("Input should", "it should")
    line = f"{key}={_shown(error['input'])} is invalid: {rule}"
    field = _field(schema, loc[0]) if len(loc) == 1 else None
    if field is not None and field.examples:
        line += f"; e.g. {key}={field.examples[0]}"
    return line


def _field(schema: type[BaseModel], name: str) -> Any:
    for field_name, field in schema.model_fields.items():
        if name in (field_name, field.alias):
            return field
    return None


def _shown(value: Any) -> str:
    """A value as the user typed it: strings quoted, numbers and lists as Hydra reads them."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    return str(value).replace(" ", "")


def check_objective_metric(metric: str, produced: list[str]) -> None:
    """Raises ConfigError when the objective names a metric the compiled model never logs."""
    if metric not in produced:
        raise ConfigError(
            f"objective.metric={metric!r} is not produced by this run; "
            f"choose one of: {', '.join(sorted(produced))}"
        )
