"""The rules of people's control over what serves: pins, approvals and rollbacks.

A pin says "serve this model": nothing else is promoted while it stands, whether by the
gate, an approval or a rollback; a rollback *to* the pinned model is allowed, since that
is what the pin asks for. Unpinning comes first otherwise (one explicit step, recorded by
the admin API), so a pin is never moved as a side effect.

An approval applies to the comparison that was made: if another model has served since
(a rollback, a later promotion), the candidate beat a model that no longer serves, and
it is not promoted on that old evidence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pin:
    model_id: str
    version: int
    actor: str

    def blocks(self, model_id: str) -> str | None:
        """Why ``model_id`` may not be appointed while this pin stands, or None."""
        if model_id == self.model_id:
            return None
        return (
            f"stream pinned to model {self.model_id} (v{self.version}) by {self.actor}:"
            " nothing is promoted over a pin"
        )


def approval_blocker(
    candidate: str, *, compared_with: str | None, serving: str | None, pin: Pin | None
) -> str | None:
    """Why an approved candidate cannot be appointed now, or None."""
    if pin is not None and (blocked := pin.blocks(candidate)):
        return blocked
    if serving == candidate:
        return "it already serves"
    if serving != compared_with:
        return (
            f"model {serving or 'none'} has served since the decision, which compared with"
            f" {compared_with or 'no champion'}; a new experiment must judge against it"
        )
    return None


def rollback_problem(target: str | None, *, to_version: int | None, pin: Pin | None) -> str | None:
    """Why the rollback cannot be done, or None."""
    if target is None:
        if to_version is not None:
            return f"no model v{to_version} for this stream"
        return "no earlier model served this stream"
    if pin is not None and (blocked := pin.blocks(target)):
        return f"{blocked}; unpin it to roll back"
    return None
