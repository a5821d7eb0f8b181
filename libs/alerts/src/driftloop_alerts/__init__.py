"""Ops alerts to webhooks: signed (HMAC-SHA256), retried with backoff, recorded, never blocking.

A service builds its hooks once (a missing secret fails here, naming its variable), runs a
``Notifier`` for its lifetime, and hands it alerts from any handler; ``notify`` returns at
once and the deliveries happen in the background::

    hooks = hooks_from_env() + hooks_from_spec(spec)
    async with Notifier(pool) as notifier:
        notifier.notify(
            Alert(kind="drift", stream="orders", summary="adwin: accuracy fell to 0.71",
                  details={"statistic": 0.12}, causation_id=event.event_id),
            hooks,
        )

Receivers check the ``X-Driftloop-Signature`` header with ``verify(secret, header, body)``
and may use ``X-Driftloop-Alert-Id`` (also the body's ``id``) to ignore repeats. The
service-wide hooks are configured with ``DRIFTLOOP_ALERT_WEBHOOKS``,
``DRIFTLOOP_ALERT_SECRET`` and ``DRIFTLOOP_ALERT_EVENTS`` (see ``hooks_from_env``).
"""

from ._alert import ALERT_KINDS, Alert, AlertKind
from ._hooks import (
    EVENTS_ENV,
    SECRET_ENV,
    WEBHOOKS_ENV,
    AlertConfigError,
    Hook,
    hooks_from_env,
    hooks_from_spec,
)
from ._notifier import Notifier
from ._signing import ALERT_ID_HEADER, SIGNATURE_HEADER, sign, verify

__all__ = [
    "ALERT_ID_HEADER",
    "ALERT_KINDS",
    "EVENTS_ENV",
    "SECRET_ENV",
    "SIGNATURE_HEADER",
    "WEBHOOKS_ENV",
    "Alert",
    "AlertConfigError",
    "AlertKind",
    "Hook",
    "Notifier",
    "hooks_from_env",
    "hooks_from_spec",
    "sign",
    "verify",
]
