"""The ``driftloop`` command: run and check the stack, validate specs, write the AsyncAPI,
control experiments and models through the admin API, trace and replay models.

Commands are ``driftloop NOUN VERB`` (``experiment start``, ``model list``); the few that
a person reaches for under pressure are verbs of their own (``approve``, ``rollback``).
Each module registers its commands on the groups ``_shared`` defines; ``--help`` lists
them in import order: the basics, then control, then tracing.
"""

from __future__ import annotations

from . import _basics, _control, _trace
from ._shared import app, console

__all__ = ["app", "console", "main"]

# Imported for the commands they register.
del _basics, _control, _trace


def main() -> None:
    app()
