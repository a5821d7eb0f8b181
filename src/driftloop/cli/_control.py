"""Human control through the admin API: list, start, pause, approve, roll back, pin."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ._shared import (
    Actor,
    AdminUrl,
    Home,
    Json,
    Reason,
    Token,
    app,
    console,
    decision_app,
    errors,
    experiment_app,
    fail,
    model_app,
    stream_app,
    trial_app,
)

if TYPE_CHECKING:
    from ..admin import AdminClient


@contextlib.contextmanager
def _admin(
    url: str | None, token: str | None, actor: str | None, home: Path
) -> Iterator[AdminClient]:
    """A client of the admin API; an AdminError anywhere inside is printed, exit 1."""
    from ..admin import AdminClient, AdminError, os_user, resolve_token, resolve_url
    from ..stack import read_state

    try:
        client = AdminClient(
            resolve_url(url, read_state(home)), resolve_token(token, home), actor or os_user()
        )
        try:
            yield client
        finally:
            client.close()
    except AdminError as exc:
        fail(str(exc))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _show(found: Any, columns: tuple[str, ...], what: str, as_json: bool) -> None:
    """Rows as a table of the known ``columns`` each has, or as JSON for machines."""
    rows: list[dict[str, Any]] = found if isinstance(found, list) else [found]
    if as_json:
        typer.echo(json.dumps(found, indent=2, sort_keys=True))
        return
    if not rows:
        console.print(f"no {what}")
        return
    shown = [c for c in columns if any(c in row for row in rows)] or list(rows[0])
    table = Table(*shown, title=what, title_justify="left")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in shown))
    console.print(table)


@stream_app.command("list")
def stream_list(
    as_json: Json = False,
    url: AdminUrl = None,
    token: Token = None,
    home: Home = Path(".driftloop"),
) -> None:
    """List the registered streams and the model serving each."""
    with _admin(url, token, None, home) as admin:
        found = admin.get("streams")
    columns = ("name", "target", "champion_id", "champion_version", "serving_since")
    _show(found, (*columns, "pinned_model_id", "pinned_by"), "streams", as_json)


@experiment_app.command("list")
def experiment_list(
    stream: Annotated[str | None, typer.Option(help="Only this stream's.")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only these: pending, running, paused, completed, stopped, failed."),
    ] = None,
    as_json: Json = False,
    url: AdminUrl = None,
    token: Token = None,
    home: Home = Path(".driftloop"),
) -> None:
    """List experiments, newest first, with their trigger, status and budget."""
    with _admin(url, token, None, home) as admin:
        found = admin.get("experiments", stream=stream, status=status)
    columns = ("id", "stream", "trigger", "status", "requested_by", "budget_trials")
    _show(found, (*columns, "best_trial_id", "created_at"), "experiments", as_json)


@experiment_app.command("show")
def experiment_show(
    experiment_id: Annotated[str, typer.Argument(help="The experiment's id.")],
    url: AdminUrl = None,
    token: Token = None,
    home: Home = Path(".driftloop"),
) -> None:
    """Print one experiment as JSON, as the admin API returns it."""
    with _admin(url, token, None, home) as admin:
        found = admin.get("experiments", experiment_id)
    _show(found, (), "experiment", as_json=True)


@experiment_app.command("start")
def experiment_start(
    stream: Annotated[str, typer.Argument(help="The stream to experiment on.")],
    reason: Reason = "",
    spec: Annotated[
        Path | None,
        typer.Option(help="A spec file to use instead of the stream's registered one."),
    ] = None,
    url: AdminUrl = None,
    token: Token = None,
    actor: Actor = None,
    home: Home = Path(".driftloop"),
) -> None:
    """Ask for an experiment on STREAM now; prints its id (the scheduler starts it)."""
    body: dict[str, Any] = {"stream": stream, "reason": reason}
    if spec is not None:
        body["spec"] = _spec_text(spec, stream)
    with _admin(url, token, actor, home) as admin:
        answer = admin.post("experiments", body=body)
    console.print(f"experiment {answer['experiment_id']} requested for stream {stream!r}")


def _spec_text(file: Path, stream: str) -> str:
    """The file, validated here so mistakes show at once, sent as JSON (which YAML reads)."""
    from driftloop_spec import SpecError, load_spec

    try:
        spec = load_spec(file)
    except SpecError as exc:
        for line in exc.lines():
            errors.print(f"{file}: {line}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if spec.stream != stream:
        fail(f"{file} is a spec for stream {spec.stream!r}, not {stream!r}")
    return json.dumps(spec.model_dump(mode="json"))


def _control(action: str) -> Any:
    def control(
        experiment_id: Annotated[str, typer.Argument(help="The experiment's id.")],
        reason: Reason = "",
        url: AdminUrl = None,
        token: Token = None,
        actor: Actor = None,
        home: Home = Path(".driftloop"),
    ) -> None:
        with _admin(url, token, actor, home) as admin:
            admin.post("experiments", experiment_id, action, body={"reason": reason})
        console.print(f"asked the scheduler to {action} experiment {experiment_id}")

    control.__doc__ = {
        "pause": "Pause an experiment: no new trials are asked until it is resumed.",
        "resume": "Resume a paused experiment within what is left of its budget.",
        "stop": "Stop an experiment for good; its best trial so far is still judged.",
    }[action]
    return control


for _action in ("pause", "resume", "stop"):
    experiment_app.command(_action)(_control(_action))


@trial_app.command("list")
def trial_list(
    experiment: Annotated[str | None, typer.Option(help="Only this experiment's trials.")] = None,
    as_json: Json = False,
    url: AdminUrl = None,
    token: Token = None,
    home: Home = Path(".driftloop"),
) -> None:
    """List trials with their family, seed, status and metrics."""
    with _admin(url, token, None, home) as admin:
        found = admin.get("trials", experiment_id=experiment)
    columns = ("id", "experiment_id", "number", "family", "seed", "status", "source", "metrics")
    _show(found, (*columns, "duration_seconds"), "trials", as_json)


@model_app.command("list")
def model_list(
    stream: Annotated[str | None, typer.Option(help="Only this stream's models.")] = None,
    as_json: Json = False,
    url: AdminUrl = None,
    token: Token = None,
    home: Home = Path(".driftloop"),
) -> None:
    """List models by stream and version; `driftloop lineage model ID` traces one."""
    with _admin(url, token, None, home) as admin:
        found = admin.get("models", stream=stream)
    columns = ("id", "stream", "version", "family", "trial_id", "metrics", "serving", "pinned")
    _show(found, (*columns, "created_at"), "models", as_json)


@decision_app.command("list")
def decision_list(
    stream: Annotated[str | None, typer.Option(help="Only this stream's decisions.")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only these: pending, approved, rejected, final.")
    ] = None,
    as_json: Json = False,
    url: AdminUrl = None,
    token: Token = None,
    home: Home = Path(".driftloop"),
) -> None:
    """List promotion decisions: verdict, test, p-value, scores; pending ones await you."""
    with _admin(url, token, None, home) as admin:
        found = admin.get("decisions", stream=stream, status=status)
    columns = ("id", "stream", "model_id", "verdict", "status", "test", "p_value")
    _show(found, (*columns, "candidate_score", "champion_score", "at"), "decisions", as_json)


def _judge(approved: bool) -> Any:
    def judge(
        decision_id: Annotated[str, typer.Argument(help="The pending decision's id.")],
        reason: Reason = "",
        url: AdminUrl = None,
        token: Token = None,
        actor: Actor = None,
        home: Home = Path(".driftloop"),
    ) -> None:
        verb = "approve" if approved else "reject"
        with _admin(url, token, actor, home) as admin:
            admin.post("decisions", decision_id, verb, body={"reason": reason})
        console.print(f"decision {decision_id}: {verb} sent to evaluation")

    judge.__doc__ = (
        "Approve a pending promotion: evaluation then promotes its model."
        if approved
        else "Reject a pending promotion: its model is not promoted."
    )
    return judge


app.command("approve")(_judge(True))
app.command("reject")(_judge(False))


@app.command()
def rollback(
    stream: Annotated[str, typer.Argument(help="The stream whose model to roll back.")],
    to_version: Annotated[
        int | None, typer.Option(min=1, help="Serve this model version (default: the previous).")
    ] = None,
    reason: Reason = "",
    url: AdminUrl = None,
    token: Token = None,
    actor: Actor = None,
    home: Home = Path(".driftloop"),
) -> None:
    """Serve an earlier model of STREAM again: the one before the champion, or --to-version."""
    body: dict[str, Any] = {"reason": reason}
    if to_version is not None:
        body["to_version"] = to_version
    with _admin(url, token, actor, home) as admin:
        admin.post("streams", stream, "rollback", body=body)
    target = f"version {to_version}" if to_version else "the previous model"
    console.print(f"rollback of stream {stream!r} to {target} sent to evaluation")


@app.command()
def pin(
    stream: Annotated[str, typer.Argument(help="The stream to pin.")],
    model: Annotated[
        str | None, typer.Option(help="The model id to pin (default: the current champion).")
    ] = None,
    reason: Reason = "",
    url: AdminUrl = None,
    token: Token = None,
    actor: Actor = None,
    home: Home = Path(".driftloop"),
) -> None:
    """Pin STREAM's model: no promotion replaces it until `driftloop unpin`."""
    body: dict[str, Any] = {"reason": reason}
    if model is not None:
        body["model_id"] = model
    with _admin(url, token, actor, home) as admin:
        answer = admin.post("streams", stream, "pin", body=body)
    pinned = (answer or {}).get("model_id", model or "its current champion")
    console.print(f"stream {stream!r} pinned to model {pinned}")


@app.command()
def unpin(
    stream: Annotated[str, typer.Argument(help="The stream to unpin.")],
    reason: Reason = "",
    url: AdminUrl = None,
    token: Token = None,
    actor: Actor = None,
    home: Home = Path(".driftloop"),
) -> None:
    """Remove STREAM's pin: promotions may replace its model again."""
    with _admin(url, token, actor, home) as admin:
        admin.delete("streams", stream, "pin", body={"reason": reason})
    console.print(f"stream {stream!r} unpinned")
