"""What the scheduler's background pass starts by itself: a drift experiment that waited for
labelled records since its change, and a refit of an experiment whose window was short.

A refit runs the experiment again (same trigger, same change point, a new id derived from
the old one, so it happens once) when the window it was short of is full: the records
since the change, or since the stream began, now fill the spec's ``last_labelled``. Its
candidate then faces the quick model at the gate.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, uuid5

from driftloop_runtime import Transaction

from . import followup_store as store
from .settings import Settings
from .start import StartRequest, begin, change_of, start


async def resume(tx: Transaction, settings: Settings, experiment_id: str) -> None:
    """Begin an experiment that waited for labelled records, if it still waits."""
    found = await store.lock_pending(tx.conn, experiment_id)
    if found is None:
        return
    request = StartRequest(
        found.id,
        found.stream,
        found.trigger,
        found.trigger_ref or "",
        found.requested_by,
        found.reason,
    )
    await begin(tx, settings, request, found.spec, waited=found.waited)


async def refit(tx: Transaction, settings: Settings, latest: store.Latest) -> None:
    """Run ``latest`` again once the window it was short of is full (labelled records since
    its change, or since the stream began)."""
    change = await change_of(tx, latest.stream, latest.trigger, latest.trigger_ref)
    after = change - 1 if change is not None else 0
    have = await store.labelled_count(tx.conn, latest.stream, after, latest.window)
    if have < latest.window:
        return
    why = (
        f"refit of experiment {latest.id} on a full window: {latest.window} labelled records"
        f" (it had {latest.rows})"
    )
    request = StartRequest(
        str(uuid5(NAMESPACE_URL, f"driftloop:refit:{latest.id}")),
        latest.stream,
        latest.trigger,
        latest.trigger_ref or "",
        "scheduler",
        why,
    )
    await start(tx, settings, request)
