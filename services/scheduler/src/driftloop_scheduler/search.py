"""The model search: which configurations to try next, asked of Optuna's TPE sampler.

The scheduler keeps no optimiser between events; the store holds the trials. So each
``ask`` rebuilds an in-memory study from what is known: finished trials (and observations
carried over from similar past experiments) as completed trials, trials still running as
running ones, which the constant liar keeps parallel asks away from. The space is
conditional: a categorical ``family``, then that family's parameters as
``"<family>.<param>"``. Fixed parameters are not searched but are part of every config.

>>> from driftloop_spec import validate_spec
>>> spec = validate_spec({"stream": "s", "task": "classification", "target": "y",
...     "features": {"x": "float"}, "families": [{"name": "sklearn.knn",
...     "space": {"n_neighbors": {"int": [1, 50]}, "weights": "distance"}}]})
>>> first, second = ask(spec, seed=7, done=[], pending=[], n=2)
>>> first == ask(spec, seed=7, done=[], pending=[])[0], first != second
(True, True)
>>> sorted(first.params)
['n_neighbors', 'weights']
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import TPESampler
from optuna.trial import Trial, TrialState, create_trial

from driftloop_spec import Choice, Dimension, ExperimentSpec, Family, Fixed, FloatRange, IntRange

FAMILY = "family"
# A sampler that repeats a known config is asked again this many times before the
# repeat is accepted: a small space may have nothing new left.
RETRIES = 16
_OUTSIDE = object()


@dataclass(frozen=True)
class Config:
    family: str
    params: dict[str, Any]  # every parameter the family is built with, Fixed ones included

    @property
    def key(self) -> str:
        """Equal for equal configs, whatever the order of their parameters."""
        return json.dumps([self.family, self.params], sort_keys=True, default=str)


@dataclass(frozen=True)
class Observation:
    config: Config
    score: float


def ask(
    spec: ExperimentSpec,
    *,
    seed: int,
    done: Sequence[Observation],
    pending: Sequence[Config],
    priors: Sequence[Observation] = (),
    n: int = 1,
) -> list[Config]:
    """``n`` configs to try next, distinct from each other and from every done or pending
    one where the space allows; the same arguments give the same configs."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if spec.objective.direction == "maximise" else "minimize",
        sampler=_sampler(spec, (seed * 1_000_003 + len(done) + len(pending)) % 2**32),
    )
    tried = {_identity(spec, o.config) for o in done}
    # Priors were scored on other data: they stand in for a cold search's random start-up,
    # then give way. Kept throughout, they outvoted this data and stopped exploration:
    # bench/knowledge.py's seeded searches got slower than cold ones on a new concept.
    # A prior config already run here is judged by that run.
    if len(done) >= startup_trials(spec):
        priors = ()
    fresh = [o for o in priors if _identity(spec, o.config) not in tried]
    for observation in (*fresh, *done):
        if math.isfinite(observation.score):
            _add(study, spec, observation.config, TrialState.COMPLETE, observation.score)
    for config in pending:
        _add(study, spec, config, TrialState.RUNNING, None)
    seen = tried | {_identity(spec, c) for c in pending}
    asked: list[Config] = []
    for _ in range(n):
        for _attempt in range(RETRIES):
            # The repeat stays in the study as a running trial, so the liar avoids it.
            config = _suggest(spec, study.ask())
            if config.key not in seen:
                break
        seen.add(config.key)
        asked.append(config)
    return asked


def conform(spec: ExperimentSpec, config: Config) -> Config | None:
    """``config`` as the spec's current space builds it (missing fixed parameters filled
    in), or None when it falls outside that space."""
    family = next((f for f in spec.families if f.name == config.family), None)
    if family is None or set(config.params) - set(family.space):
        return None
    params: dict[str, Any] = {}
    for name, dimension in family.space.items():
        if name not in config.params:
            if not isinstance(dimension, Fixed):
                return None
            params[name] = dimension.value
            continue
        value = _fit(dimension, config.params[name])
        if value is _OUTSIDE:
            return None
        params[name] = value
    return Config(family.name, params)


def startup_trials(spec: ExperimentSpec) -> int:
    """How many random configs a cold search starts with: a quarter of the budget, 2-10."""
    return max(2, min(10, spec.budget.trials // 4))


def _identity(spec: ExperimentSpec, config: Config) -> str:
    # Configs read back from JSON may spell a value differently (20.0 for 20).
    return (conform(spec, config) or config).key


def _sampler(spec: ExperimentSpec, seed: int) -> TPESampler:
    # Independent TPE models each parameter over the trials that have it, which suits a
    # conditional space; the multivariate one searched no better here, at twice the cost.
    return TPESampler(
        seed=seed, n_startup_trials=startup_trials(spec), multivariate=False, constant_liar=True
    )


def _add(
    study: optuna.Study,
    spec: ExperimentSpec,
    config: Config,
    state: TrialState,
    value: float | None,
) -> None:
    """Add a known config to the study, unless it no longer fits the spec's space."""
    fitted = conform(spec, config)
    if fitted is None:
        return
    family = next(f for f in spec.families if f.name == fitted.family)
    params: dict[str, Any] = {FAMILY: family.name}
    distributions: dict[str, BaseDistribution] = {FAMILY: _families(spec)}
    for name, dimension in family.space.items():
        if not isinstance(dimension, Fixed):
            key = f"{family.name}.{name}"
            held = fitted.params[name]
            params[key] = _option_key(held) if isinstance(dimension, Choice) else held
            distributions[key] = _distribution(dimension)
    study.add_trial(
        create_trial(state=state, value=value, params=params, distributions=distributions)
    )


def _suggest(spec: ExperimentSpec, trial: Trial) -> Config:
    name = trial.suggest_categorical(FAMILY, _families(spec).choices)
    family: Family = next(f for f in spec.families if f.name == name)
    params: dict[str, Any] = {}
    for param, dimension in family.space.items():
        key = f"{family.name}.{param}"
        match dimension:
            case IntRange(low=low, high=high, log=log):
                params[param] = trial.suggest_int(key, low, high, log=log)
            case FloatRange(low=low, high=high, log=log):
                params[param] = trial.suggest_float(key, low, high, log=log)
            case Choice(options=options):
                chosen = trial.suggest_categorical(key, [_option_key(o) for o in options])
                params[param] = next(o for o in options if _option_key(o) == chosen)
            case Fixed(value=value):
                params[param] = value
    return Config(family.name, params)


def _families(spec: ExperimentSpec) -> CategoricalDistribution:
    return CategoricalDistribution(tuple(f.name for f in spec.families))


def _distribution(dimension: Dimension) -> BaseDistribution:
    match dimension:
        case IntRange(low=low, high=high, log=log):
            return IntDistribution(low, high, log=log)
        case FloatRange(low=low, high=high, log=log):
            return FloatDistribution(low, high, log=log)
        case Choice(options=options):
            return CategoricalDistribution(tuple(_option_key(o) for o in options))
    raise TypeError(f"a {type(dimension).__name__} is not searched")


def _option_key(option: Any) -> str:
    # Optuna's categories must be scalars, and options may be any JSON value; the spec
    # checks options are distinct under exactly this encoding.
    return json.dumps(option, sort_keys=True, default=str)


def _fit(dimension: Dimension, value: Any) -> Any:
    """``value`` as the dimension holds it, or ``_OUTSIDE``."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    match dimension:
        case IntRange(low=low, high=high):
            if number and float(value).is_integer() and low <= value <= high:
                return int(value)
        case FloatRange(low=low, high=high):
            if number and math.isfinite(value) and low <= value <= high:
                return float(value)
        case Choice(options=options):
            return next((o for o in options if _option_key(o) == _option_key(value)), _OUTSIDE)
        case Fixed(value=fixed):
            return fixed if _option_key(fixed) == _option_key(value) else _OUTSIDE
    return _OUTSIDE
