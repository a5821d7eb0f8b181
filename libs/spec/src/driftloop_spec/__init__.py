"""The experiment spec: a YAML or TOML file a person writes, validated by pydantic.

>>> spec = parse_spec('''
... stream: agrawal
... task: classification
... target: class
... features: {salary: float, age: int}
... families: [sklearn.random_forest]
... ''', "yaml")
>>> spec.objective.metric, spec.objective.direction, spec.budget.trials
('accuracy', 'maximise', 20)

Every problem is reported at once, each named by its field's path:

>>> try:
...     parse_spec("stream: Agrawal\\ntask: classification\\nbudget: {trials: 0}", "yaml")
... except SpecError as exc:
...     print(exc)
stream: must be 1-63 lowercase letters, digits or _, starting with a letter
features: required
target: required
families: required
budget.trials: must be greater than or equal to 1, got 0
"""

from ._cron import check_cron
from ._data import FeatureType, Holdout, Window
from ._durations import Duration, format_duration, parse_duration
from ._errors import SpecError, SpecProblem, format_errors
from ._load import SpecFormat, load_spec, parse_spec, validate_spec
from ._metrics import METRICS, Direction, Metric, Task
from ._policy import ALERT_EVENTS, AlertEvent, Promotion, Seeding, Webhook
from ._search import BUILTIN_FAMILIES, Budget, Family, Objective
from ._space import Choice, Dimension, Fixed, FloatRange, IntRange
from ._spec import ExperimentSpec
from ._triggers import (
    DETECTOR_PARAMS,
    DetectorKind,
    DriftDetector,
    DriftTrigger,
    Schedule,
    Triggers,
)
from ._values import (
    FLOAT_MAX,
    INT64_MAX,
    INT64_MIN,
    NUL_REASON,
    ValueFault,
    feature_fault,
    label_fault,
)

__all__ = [
    "ALERT_EVENTS",
    "BUILTIN_FAMILIES",
    "DETECTOR_PARAMS",
    "FLOAT_MAX",
    "INT64_MAX",
    "INT64_MIN",
    "METRICS",
    "NUL_REASON",
    "AlertEvent",
    "Budget",
    "Choice",
    "DetectorKind",
    "Dimension",
    "Direction",
    "DriftDetector",
    "DriftTrigger",
    "Duration",
    "ExperimentSpec",
    "Family",
    "FeatureType",
    "Fixed",
    "FloatRange",
    "Holdout",
    "IntRange",
    "Metric",
    "Objective",
    "Promotion",
    "Schedule",
    "Seeding",
    "SpecError",
    "SpecFormat",
    "SpecProblem",
    "Task",
    "Triggers",
    "ValueFault",
    "Webhook",
    "Window",
    "check_cron",
    "feature_fault",
    "format_duration",
    "format_errors",
    "label_fault",
    "load_spec",
    "parse_duration",
    "parse_spec",
    "validate_spec",
]
