"""Pure machine-learning code the services share: snapshots and their meta-features, model
families over scikit-learn and river, deterministic trials, hashed artifacts, the gate.

>>> from driftloop_learn import Dataset, Row, HoldoutSize, run_trial
>>> rows = [Row(str(i), i, {"x": float(i % 10)}, int(i % 10 >= 5)) for i in range(200)]
>>> result = run_trial(Dataset.of(rows), family="sklearn.logistic_regression", params={},
...                    seed=1, task="classification", metric="accuracy",
...                    holdout=HoldoutSize(fraction=0.2))
>>> result.metrics["accuracy"]
1.0

Nothing here does I/O but ``code_version``, which asks git once.
"""

from ._artifact import ArtifactMismatch, dump, load, sha256, verify
from ._data import Dataset, Features, Row, Split, Value, rows_from
from ._families import BUILTIN, Family, Task, UnknownFamily, get_family
from ._gate import GateResult, Scored, Test, compare, first_model
from ._meta import MetaFeatures, distance, meta_features
from ._metrics import MINIMISED, NEEDS_PROBA, better, gain, score
from ._model import Model, Proba, RiverModel, SklearnModel
from ._trial import HoldoutSize, TrialResult, evaluate, lineage, run_trial

__all__ = [
    "BUILTIN",
    "MINIMISED",
    "NEEDS_PROBA",
    "ArtifactMismatch",
    "Dataset",
    "Family",
    "Features",
    "GateResult",
    "HoldoutSize",
    "MetaFeatures",
    "Model",
    "Proba",
    "RiverModel",
    "Row",
    "Scored",
    "SklearnModel",
    "Split",
    "Task",
    "Test",
    "TrialResult",
    "UnknownFamily",
    "Value",
    "better",
    "compare",
    "distance",
    "dump",
    "evaluate",
    "first_model",
    "gain",
    "get_family",
    "lineage",
    "load",
    "meta_features",
    "rows_from",
    "run_trial",
    "score",
    "sha256",
    "verify",
]
