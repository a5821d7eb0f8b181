"""The admin API's client side: where the API and its token are, and calls that fail clearly.

The serving service holds the admin routes; ``driftloop up`` gives it a token it generates
once per home and keeps in a file only the owner can read. The CLI takes the token from
``--token`` / ``DRIFTLOOP_ADMIN_TOKEN`` first, then from that file, and the URL from
``--url`` / ``DRIFTLOOP_ADMIN_URL`` first, then from the running stack's serving URL.
"""

from __future__ import annotations

import getpass
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

TOKEN_FILE = "admin-token"  # noqa: S105 - the file's name, not a secret
TIMEOUT = 10.0


class AdminError(RuntimeError):
    """A call to the admin API that did not succeed, said in words a person can act on."""


def token_path(home: Path) -> Path:
    return home / TOKEN_FILE


def ensure_token(home: Path) -> Path:
    """Create the stack's admin token once (owner-only file); later calls keep it."""
    path = token_path(home)
    home.mkdir(parents=True, exist_ok=True)
    if read_token(home) is None:
        # Created with its mode (no moment when others could read it) and renamed into place,
        # so a crash cannot leave an empty token that would lock the admin API.
        temporary = path.with_suffix(".tmp")
        temporary.unlink(missing_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32))
        os.replace(temporary, path)
    elif path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path


def read_token(home: Path) -> str | None:
    try:
        return token_path(home).read_text().strip() or None
    except OSError:
        return None


def resolve_token(given: str | None, home: Path) -> str:
    if token := given or read_token(home):
        return token
    raise AdminError(
        "the admin token is missing: pass --token, set DRIFTLOOP_ADMIN_TOKEN, or start the "
        f"stack with `driftloop up` (it keeps one in {token_path(home)})"
    )


def serving_url(state: dict[str, Any] | None) -> str | None:
    """The serving service's URL in a stack state, where the admin API answers."""
    for service in (state or {}).get("services", []):
        if service.get("name") == "serving":
            return str(service["url"])
    return None


def resolve_url(given: str | None, state: dict[str, Any] | None) -> str:
    if url := given or serving_url(state):
        return url.rstrip("/")
    raise AdminError("no admin API found: is `driftloop up` running? set DRIFTLOOP_ADMIN_URL")


def os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container user with no passwd entry
        return "unknown"


class AdminClient:
    """Synchronous calls to ``/admin/...``, each returning the decoded JSON body."""

    def __init__(
        self, url: str, token: str, actor: str, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url
        self._client = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}", "X-Driftloop-Actor": actor},
            timeout=TIMEOUT,
            transport=transport,
        )

    def get(self, *route: str, **params: str | None) -> Any:
        query = {name: value for name, value in params.items() if value is not None}
        return self._send("GET", route, params=query)

    def post(self, *route: str, body: dict[str, Any]) -> Any:
        return self._send("POST", route, json=body)

    def delete(self, *route: str, body: dict[str, Any]) -> Any:
        return self._send("DELETE", route, json=body)

    def close(self) -> None:
        self._client.close()

    def _send(self, method: str, route: tuple[str, ...], **kwargs: Any) -> Any:
        # Each part escaped: an id typed by a person cannot change the route.
        path = "/admin" + "".join(f"/{quote(part, safe='')}" for part in route)
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise AdminError(
                f"cannot reach the admin API at {self.url}: is `driftloop up` running? "
                "set DRIFTLOOP_ADMIN_URL"
            ) from None
        except httpx.TimeoutException:
            raise AdminError(f"the admin API at {self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise AdminError(f"the admin API at {self.url} failed: {exc}") from None
        if response.status_code in (401, 403):
            raise AdminError(
                "the admin token is missing or wrong: pass --token or set "
                "DRIFTLOOP_ADMIN_TOKEN to the serving service's token"
            )
        if response.is_error:
            raise AdminError(f"{method} {path}: {response.status_code} {detail(response)}")
        return response.json() if response.content else None


def detail(response: httpx.Response) -> str:
    """FastAPI's ``detail`` (a string, or a list of validation problems), else the body."""
    try:
        found = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        return response.text or response.reason_phrase
    if isinstance(found, list):
        return "; ".join(
            ".".join(str(p) for p in item.get("loc", ())[1:]) + f": {item.get('msg', item)}"
            if isinstance(item, dict)
            else str(item)
            for item in found
        )
    return str(found)
