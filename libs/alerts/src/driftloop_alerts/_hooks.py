"""Where alerts go: hooks from an experiment spec's ``alerts`` and from service settings.

Secrets are resolved from the environment when the hooks are built, so a missing one fails
at configuration time, naming the variable, rather than at the first alert. Service-wide
hooks, told about every stream, are configured with:

``DRIFTLOOP_ALERT_WEBHOOKS``
    Comma-separated http(s) URLs. Unset or empty: no service-wide hooks.
``DRIFTLOOP_ALERT_SECRET``
    The HMAC secret those URLs are signed with; required when any URL is set.
``DRIFTLOOP_ALERT_EVENTS``
    Comma-separated kinds they receive (``drift,failure``); all kinds by default.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict, HttpUrl, SecretStr, TypeAdapter, field_validator

from driftloop_spec import ExperimentSpec

from ._alert import ALERT_KINDS, AlertKind

WEBHOOKS_ENV = "DRIFTLOOP_ALERT_WEBHOOKS"
SECRET_ENV = "DRIFTLOOP_ALERT_SECRET"  # noqa: S105 - the variable's name, not a secret
EVENTS_ENV = "DRIFTLOOP_ALERT_EVENTS"

_HTTP_URL = TypeAdapter(HttpUrl)


class AlertConfigError(ValueError):
    """The alert hooks cannot be built as configured; the message names the setting."""


class Hook(BaseModel):
    """One receiver: its URL, the kinds it wants, and the secret its messages are signed with.

    Without a secret (a spec webhook with no ``secret_env``) messages go unsigned.
    """

    model_config = ConfigDict(frozen=True)

    url: str
    kinds: frozenset[AlertKind] = frozenset(ALERT_KINDS)
    # SecretStr keeps the secret out of reprs, and so out of logs and tracebacks.
    secret: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _http_without_credentials(cls, url: str) -> str:
        parsed = _HTTP_URL.validate_python(url)
        # The URL is logged and stored with each delivery; a password in it would leak.
        if parsed.username or parsed.password:
            raise ValueError("must not hold credentials; sign with a secret instead")
        return url

    def wants(self, kind: AlertKind) -> bool:
        return kind in self.kinds

    @property
    def origin(self) -> str:
        """Scheme, host and port only: what logs show, since paths often embed tokens."""
        parsed = _HTTP_URL.validate_python(self.url)
        port = f":{parsed.port}" if parsed.port else ""
        return f"{parsed.scheme}://{parsed.host}{port}"


def hooks_from_spec(
    spec: ExperimentSpec, environ: Mapping[str, str] | None = None
) -> tuple[Hook, ...]:
    """The hooks of ``spec.alerts``, each secret read from the variable its ``secret_env`` names.

    Raises ``AlertConfigError`` naming every ``secret_env`` variable that is unset or empty.
    """
    env = os.environ if environ is None else environ
    hooks: list[Hook] = []
    missing: list[str] = []
    for i, webhook in enumerate(spec.alerts):
        secret = None
        if webhook.secret_env is not None:
            if not (value := env.get(webhook.secret_env)):
                missing.append(f"alerts.{i}.secret_env: {webhook.secret_env} is not set")
                continue
            secret = SecretStr(value)
        hooks.append(Hook(url=str(webhook.url), kinds=frozenset(webhook.events), secret=secret))
    if missing:
        raise AlertConfigError(f"stream {spec.stream}: " + "; ".join(missing))
    return tuple(hooks)


def hooks_from_env(environ: Mapping[str, str] | None = None) -> tuple[Hook, ...]:
    """The service-wide hooks set by ``DRIFTLOOP_ALERT_*`` (see the module docstring)."""
    env = os.environ if environ is None else environ
    urls = _items(env.get(WEBHOOKS_ENV, ""))
    if not urls:
        return ()
    if not (secret := env.get(SECRET_ENV)):
        raise AlertConfigError(f"{SECRET_ENV} is not set; {WEBHOOKS_ENV} needs it to sign")
    kinds = _kinds(_items(env.get(EVENTS_ENV, ""))) or frozenset(ALERT_KINDS)
    hooks = []
    for i, url in enumerate(urls, start=1):
        try:
            hooks.append(Hook(url=url, kinds=kinds, secret=SecretStr(secret)))
        except ValueError as exc:
            # The position, not the value: a webhook URL may carry a token in its path.
            raise AlertConfigError(
                f"{WEBHOOKS_ENV}: entry {i} is not an http(s) URL without credentials"
            ) from exc
    return tuple(hooks)


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _kinds(names: Iterable[str]) -> frozenset[AlertKind]:
    known: dict[str, AlertKind] = {kind: kind for kind in ALERT_KINDS}
    if unknown := [name for name in names if name not in known]:
        raise AlertConfigError(
            f"{EVENTS_ENV}: unknown kind {', '.join(unknown)}; use {', '.join(ALERT_KINDS)}"
        )
    return frozenset(known[name] for name in names)
