"""The search-space grammar: sweep overrides (`a,b,c`, `choice`, `range`, `interval`, `tag(log,
...)`, `int(...)`) to Optuna distributions, and back.

Parses with Hydra's public override parser and gives what the pinned Hydra Optuna sweeper
(1.4.0rc3) gives, without its private `_impl` module: a range whose floats cannot carry its
decimal step exactly becomes the categorical of its listed values, as upstream does.
"""

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    FloatRange,
    IntervalSweep,
    Override,
    Quote,
    QuotedString,
    RangeSweep,
    Transformer,
)
from hydra.errors import HydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

# A range listed value by value (its floats cannot carry its step) is refused above this many
# values: upstream would enumerate, say, range(0,1,1e-12) until memory runs out.
MAX_LISTED_VALUES = 100_000


@dataclass(frozen=True)
class SearchSpace:
    """A sweep's parsed overrides, as upstream's (space, fixed, fixed_overrides).

    `space`: key -> distribution sampled per trial; `fixed`: key -> value string every trial gets
    (a plain `key=value`, which wins over a sweep of the same key, as upstream); `fixed_overrides`:
    deletions (`~key`, `~key=value`) every trial gets as written.
    """

    space: dict[str, BaseDistribution]
    fixed: dict[str, Any]
    fixed_overrides: list[str]


@functools.cache
def override_parser() -> OverridesParser:
    """Hydra's override parser, its grammar functions registered once; each parse builds its
    own ANTLR lexer and parser, so the slots' threads share it."""
    return OverridesParser.create()


def params_overrides(params: Mapping[str, Any] | None) -> list[str]:
    """`hydra.sweeper.params` (key -> sweep string) as overrides, to parse with the command's."""
    return [f"{key!s}={value}" for key, value in (params or {}).items()]


def parse_search_space(overrides: list[str]) -> SearchSpace:
    """The search space, fixed values and fixed overrides of a sweep's overrides, in order.

    Raises ValueError naming the key and what is wrong with its value.
    """
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, Any] = {}
    fixed_overrides: list[str] = []
    for line in overrides:
        override = _parsed(line)
        if override.is_delete():
            fixed_overrides.append(line)
            continue
        key = override.get_key_element()
        if not override.is_sweep_override():
            fixed[key] = override.get_value_element_as_str()
            continue
        try:
            space[key] = _distribution(override)
        except ValueError as err:
            raise ValueError(f"{key}: {err} (in '{line}')") from err
    for key in fixed:  # a fixed value wins over a sweep of its key, as in upstream's sweep()
        space.pop(key, None)
    return SearchSpace(space, fixed, fixed_overrides)


def _parsed(line: str) -> Override:
    """One override parsed, or a ValueError naming it and Hydra's reason."""
    try:
        return override_parser().parse_override(line)
    except HydraException as err:
        key = line.split("=", 1)[0]
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{key}: Hydra cannot parse it: {reason} (in '{line}')") from err


def _distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override."""
    value = override.value()
    if isinstance(value, ChoiceSweep):
        return _listed(override)
    if isinstance(value, RangeSweep):
        return _range(override, value)
    if isinstance(value, IntervalSweep):
        return _interval(value)
    raise ValueError(
        f"{type(value).__name__} is not a search space: use a,b,c, choice, range or interval"
    )


def _listed(override: Override, count: int | None = None) -> CategoricalDistribution:
    """A sweep's values one by one: a categorical (lists and dicts written as strings)."""
    if count is not None and count > MAX_LISTED_VALUES:
        raise ValueError(
            f"it lists {count} values (its floats cannot carry the step exactly): "
            f"use interval(...) for a continuous range"
        )
    choices: list[CategoricalChoiceType] = list(
        override.sweep_iterator(transformer=Transformer.encode)
    )
    return CategoricalDistribution(choices)


def _range(override: Override, sweep: RangeSweep) -> BaseDistribution:
    """Python's range (stop left out) as Optuna's (both ends in): int or float with a step."""
    if sweep.step == 0:
        raise ValueError("a range needs a nonzero step")
    values = sweep.range()
    if sweep.shuffle or sweep.transformers:  # shuffle(range(...)), float(range(...)): listed
        return _listed(override)
    if isinstance(values, range):
        if not values:
            raise ValueError("the range holds no value (is its step's sign right?)")
        low, high = sorted((values[0], values[-1]))
        return IntDistribution(low, high, step=abs(values.step))
    start, stop, step = (Decimal(values.start), Decimal(values.stop), Decimal(values.step))
    count = math.ceil((Fraction(stop) - Fraction(start)) / Fraction(step))
    if count <= 0:
        raise ValueError("the range holds no value (is its step's sign right?)")
    last = start + (count - 1) * step
    low, high = sorted((float(start), float(last)))
    step_float = float(abs(step))
    if (
        (Decimal(str(low)), Decimal(str(high))) != (min(start, last), max(start, last))
        or Decimal(str(step_float)) != abs(step)
        or (step_float < max(math.ulp(low), math.ulp(high)) and low != high)
    ):  # floats cannot carry these decimals: the listed values instead
        return _listed(override, count)
    return FloatDistribution(low, high, step=step_float)


def _interval(sweep: IntervalSweep) -> BaseDistribution:
    """An interval: int when cast with int(...), log-scaled when tagged log."""
    log = "log" in sweep.tags
    if isinstance(sweep.start, int) and isinstance(sweep.end, int):
        return IntDistribution(sweep.start, sweep.end, log=log)
    return FloatDistribution(sweep.start, sweep.end, log=log)


def grid_values(dist: BaseDistribution) -> list[Any]:
    """The listed values of a discrete distribution, in order, for a grid over it.

    Raises ValueError for a continuous one: a grid cannot list it.
    """
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        return list(range(dist.low, dist.high + 1, dist.step))
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        values = list(FloatRange(dist.low, dist.high, dist.step))
        if not values or values[-1] != dist.high:
            values.append(dist.high)
        return values
    raise ValueError(
        f"a grid takes listed values (a,b,c, choice(...) or range(...)), not {spelled(dist)}: "
        "list values or pick a sampler, e.g. hparams_search=tpe"
    )


def grid_space(space: Mapping[str, BaseDistribution]) -> dict[str, list[Any]]:
    """Each key's grid values; a continuous one raises ValueError naming its key."""
    grid = {}
    for key, dist in space.items():
        try:
            grid[key] = grid_values(dist)
        except ValueError as err:
            raise ValueError(f"{key}: {err}") from err
    return grid


def spelled(dist: BaseDistribution) -> str:
    """The distribution in the override grammar, as a user writes it (for the parent run's
    params): parsing `key=<spelled>` gives back an equal distribution.

    An int range of step 1 is spelled `int(interval(low,high))`, Optuna's bounds as they are
    (Optuna cannot tell it from `range(low,high+1)`).
    """
    if isinstance(dist, CategoricalDistribution):
        return f"choice({','.join(_element(choice) for choice in dist.choices)})"
    if isinstance(dist, IntDistribution):
        if dist.step != 1:
            return f"range({dist.low},{dist.high + dist.step},{dist.step})"
        interval = f"int(interval({dist.low},{dist.high}))"
        return f"tag(log,{interval})" if dist.log else interval
    if isinstance(dist, FloatDistribution):
        if dist.step is not None:
            stop = Decimal(repr(dist.high)) + Decimal(repr(dist.step))
            return f"range({dist.low!r},{float(stop)!r},{dist.step!r})"
        interval = f"interval({dist.low!r},{dist.high!r})"
        return f"tag(log,{interval})" if dist.log else interval
    raise ValueError(f"{type(dist).__name__} has no spelling in Hydra's override grammar")


def _element(value: CategoricalChoiceType) -> str:
    """One choice as Hydra reads it back: a string bare when the parser gives it back as the
    same string (`adam`), quoted otherwise (`'5'`, `'a,b'`, `'[1,2]'`)."""
    if not isinstance(value, str):
        return Transformer.str(value)
    try:
        parsed = override_parser().parse_override(f"k=choice({value})")
        if parsed.value() == ChoiceSweep(list=[value]):
            return value
    except HydraException:
        pass
    return QuotedString(value, Quote.single).with_quotes()
