"""Knowledge reuse: what a new experiment takes from earlier ones.

Concepts recur, and windows that look alike tend to want alike models. So a new
experiment finds the ``spec.seeding.k`` prior experiments whose snapshots are nearest by
meta-features, runs the best configuration of each as its first trials, and hands all
their trials to the optimiser as observations. Only priors within
``spec.seeding.max_distance`` count: a new concept's nearest priors are other concepts,
whose configs waste its first trials and whose scores mislead the optimiser. Anything
outside the spec's current space is dropped: a prior from an older spec must not smuggle
in a family or a range no longer allowed. Archived models are re-scored on the new
window, best first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from driftloop_learn import MINIMISED, Dataset, MetaFeatures, Model, distance, evaluate
from driftloop_spec import ExperimentSpec

from .search import Config, Observation, conform


@dataclass(frozen=True)
class PriorTrial:
    trial_id: str
    config: Config
    score: float


@dataclass(frozen=True)
class PriorExperiment:
    experiment_id: str
    meta: MetaFeatures
    trials: tuple[PriorTrial, ...]


@dataclass(frozen=True)
class Source:
    kind: Literal["prior_config", "prior_observation"]
    trial_id: str
    experiment_id: str
    distance: float
    score: float


@dataclass(frozen=True)
class Seeding:
    # First trials: the best valid config of each of the k nearest, deduped, nearest first.
    configs: tuple[tuple[Config, Source], ...] = ()
    # Every valid trial of the k nearest, for the optimiser.
    observations: tuple[Observation, ...] = ()
    sources: tuple[Source, ...] = ()  # one per prior_config and prior_observation


def plan_seeding(
    spec: ExperimentSpec, meta: MetaFeatures, priors: Sequence[PriorExperiment]
) -> Seeding:
    """What the k prior experiments nearest to ``meta``, and near enough, offer a new
    experiment."""
    k, gate = spec.seeding.k, spec.seeding.max_distance
    measured = ((distance(meta, prior.meta), i, prior) for i, prior in enumerate(priors))
    ranked = sorted(
        (found for found in measured if gate is None or found[0] <= gate),
        key=lambda found: found[:2],
    )
    configs: dict[str, tuple[Config, Source]] = {}
    observations: list[Observation] = []
    sources: dict[tuple[str, str], Source] = {}
    for gap, _, prior in ranked[:k]:
        best: tuple[Config, PriorTrial] | None = None
        for trial in prior.trials:
            config = conform(spec, trial.config)
            if config is None or not math.isfinite(trial.score):
                continue
            observations.append(Observation(config, trial.score))
            source = Source(
                "prior_observation", trial.trial_id, prior.experiment_id, gap, trial.score
            )
            sources.setdefault((source.kind, source.trial_id), source)
            if best is None or spec.objective.better(trial.score, best[1].score):
                best = (config, trial)
        if best is not None and best[0].key not in configs:
            config, trial = best
            source = Source("prior_config", trial.trial_id, prior.experiment_id, gap, trial.score)
            configs[config.key] = (config, source)
            sources.setdefault((source.kind, source.trial_id), source)
    return Seeding(tuple(configs.values()), tuple(observations), tuple(sources.values()))


def rank_archived(
    models: Sequence[tuple[str, Model]], holdout: Dataset, metric: str
) -> list[tuple[str, float]]:
    """Each archived model's score on ``holdout``, best first.

    A model that cannot score these rows (it predates a schema change, say) is left
    out rather than stopping the others from being considered."""
    scored: list[tuple[str, float]] = []
    for model_id, model in models:
        try:
            value = evaluate(model, holdout, metric)[metric]
        except (ValueError, TypeError, KeyError):
            continue
        if math.isfinite(value):
            scored.append((model_id, value))
    # sorted() is stable: equal scores keep the order the models were given in.
    return sorted(scored, key=lambda entry: entry[1] if metric in MINIMISED else -entry[1])
