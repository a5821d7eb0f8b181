"""The evidently data-drift report behind an alarm: a reference window against the recent one.

The reference is what the serving champion was trained on when there is one, else the
stream's records just before the change; the current side is the records from the
change to the alarm. The report is slow to build (evidently takes seconds to import
and to run), so it is built only on an alarm and off the event loop.

evidently 0.7 API: ``Report([DataDriftPreset()]).run(current, reference)`` on
``Dataset.from_pandas(frame, data_definition=DataDefinition(...))``; the snapshot
renders itself with ``get_html_str``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from driftloop_spec import ExperimentSpec, FeatureType

# A row of a window: the record's features and its label.
WindowRow = tuple[Mapping[str, Any], Any]


@dataclass(frozen=True)
class Windows:
    """What a report compares; ``kind`` says where the reference came from."""

    reference: Sequence[WindowRow]
    current: Sequence[WindowRow]
    kind: str

    def summary(self) -> dict[str, Any]:
        return {
            "reference": self.kind,
            "reference_rows": len(self.reference),
            "current_rows": len(self.current),
        }


Render = Callable[[Windows, ExperimentSpec], bytes]


def report_uri(sha256: str) -> str:
    return f"driftloop://artifacts/{sha256}"


def render(windows: Windows, spec: ExperimentSpec) -> bytes:
    """The standalone HTML of a data-drift report on the spec's features and target.

    Blocking and slow: call it in a thread. Raises ``ValueError`` on an empty side.
    """
    reference, current = windows.reference, windows.current
    if not reference or not current:
        raise ValueError(
            f"a drift report needs both windows; got {len(reference)} reference rows"
            f" and {len(current)} current rows"
        )
    # Imported here: evidently takes seconds to import, which start-up should not pay.
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    features, target = spec.features, spec.target
    numeric = [name for name, kind in features.items() if kind != "category"]
    categorical = [name for name, kind in features.items() if kind == "category"]
    (categorical if spec.task == "classification" else numeric).append(target)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    columns = [*features, target]

    def dataset(rows: Sequence[WindowRow]) -> Any:
        frame = pd.DataFrame([_row(x, y, features, target) for x, y in rows], columns=columns)
        return Dataset.from_pandas(frame, data_definition=definition)

    snapshot = Report([DataDriftPreset()]).run(dataset(current), dataset(reference))
    html: str = snapshot.get_html_str(as_iframe=False)
    return html.encode()


def _row(
    x: Mapping[str, Any], y: Any, features: Mapping[str, FeatureType], target: str
) -> dict[str, Any]:
    # Booleans count as numbers (a share), categories as text, whatever JSON gave.
    row = {
        name: (str(x[name]) if kind == "category" else float(x[name]))
        if x.get(name) is not None
        else None
        for name, kind in features.items()
    }
    row[target] = y
    return row
