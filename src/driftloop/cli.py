"""The ``driftloop`` command: run and check the stack, validate specs, write the AsyncAPI,
control experiments and models through the admin API, trace and replay models.

Commands are ``driftloop NOUN VERB`` (``experiment start``, ``model list``); the few that
a person reaches for under pressure are verbs of their own (``approve``, ``rollback``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

if TYPE_CHECKING:
    from .admin import AdminClient

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="driftloop keeps ML models accurate on streaming data.",
    no_args_is_help=True,
    add_completion=False,
)
spec_app = typer.Typer(help="Experiment specs.", no_args_is_help=True)
app.add_typer(spec_app, name="spec")
stream_app = typer.Typer(help="Streams and their schemas.", no_args_is_help=True)
app.add_typer(stream_app, name="stream")
experiment_app = typer.Typer(
    help="Experiments: start one by hand, pause, resume or stop it, list them (admin API).",
    no_args_is_help=True,
)
app.add_typer(experiment_app, name="experiment")
trial_app = typer.Typer(help="Trials of experiments (admin API).", no_args_is_help=True)
app.add_typer(trial_app, name="trial")
model_app = typer.Typer(help="Models judged for each stream (admin API).", no_args_is_help=True)
app.add_typer(model_app, name="model")
decision_app = typer.Typer(
    help="Promotion decisions; `driftloop approve|reject ID` acts on pending ones (admin API).",
    no_args_is_help=True,
)
app.add_typer(decision_app, name="decision")
lineage_app = typer.Typer(help="Trace where a model came from (knowledge base).")
app.add_typer(lineage_app, name="lineage", no_args_is_help=True)
replay_app = typer.Typer(help="Re-run recorded work and check it comes out identical.")
app.add_typer(replay_app, name="replay", no_args_is_help=True)

console = Console()
errors = Console(stderr=True)

Home = Annotated[Path, typer.Option(envvar="DRIFTLOOP_HOME", help="State, logs and embedded data.")]
AdminUrl = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="DRIFTLOOP_ADMIN_URL",
        help="Admin API base URL (default: the serving service of the running stack).",
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        envvar="DRIFTLOOP_ADMIN_TOKEN",
        show_default=False,
        help="Admin token (default: the one `driftloop up` keeps in HOME/admin-token).",
    ),
]
Actor = Annotated[
    str | None,
    typer.Option(help="Who acts, for the audit log (default: your OS user name)."),
]
Reason = Annotated[str, typer.Option(help="Why, for the audit log.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON, for machines.")]


@app.command()
def up(
    home: Home = Path(".driftloop"),
    training_replicas: Annotated[int, typer.Option(min=1, help="Training workers to run.")] = 1,
    serving_port: Annotated[int, typer.Option(help="Port of the model-serving endpoint.")] = 8000,
    restart: Annotated[bool, typer.Option(help="Restart a service that dies.")] = True,
) -> None:
    """Start the broker, the database and every service; Ctrl-C stops them all.

    The embedded Kafka-protocol broker and PostgreSQL start only when
    KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL are unset.
    """
    from .stack import run_up

    raise typer.Exit(run_up(home, console, training_replicas, serving_port, restart))


@app.command()
def demo(
    count: Annotated[int, typer.Option(min=100, help="Records to play.")] = 7500,
    rate: Annotated[float, typer.Option(min=1, help="Records per second (real time).")] = 50.0,
    label_delay: Annotated[
        float, typer.Option(min=0, help="Seconds before a record's label is given.")
    ] = 1.0,
    changes: Annotated[
        str, typer.Option(help="Concept changes at these records: abrupt 'N' or gradual 'N:W'.")
    ] = "2000,5000",
    concepts: Annotated[str, typer.Option(help="Agrawal concept of each segment.")] = "0,2,0",
    out: Annotated[Path, typer.Option(help="Where the plot and summary go.")] = Path(
        ".driftloop/demo"
    ),
    home: Annotated[
        Path | None, typer.Option(help="Stack home (default: a temporary one, removed after).")
    ] = None,
    training_replicas: Annotated[int, typer.Option(min=1, help="Training workers.")] = 2,
) -> None:
    """Run the whole loop on a drifting stream, nobody touching it: a live view, a summary
    and an accuracy plot (PNG, HTML). The default run takes 3-4 minutes on 2 cores."""
    from .demo import options_from, run_demo

    try:
        options = options_from(
            count, rate, label_delay, changes, concepts, out, home, training_replicas
        )
    except ValueError as exc:
        errors.print(str(exc))
        raise typer.Exit(2) from None
    raise typer.Exit(run_demo(options, console))


@app.command()
def status(home: Home = Path(".driftloop")) -> None:
    """Show each component of the running stack and whether it is healthy (exit 1 if not)."""
    from .processes import same_process
    from .stack import read_state
    from .status import check_all

    state = read_state(home)
    if state is None or same_process(state.get("up")) is None:
        errors.print(
            f"driftloop is not running here (no {home / 'stack.json'}); start it with "
            "`driftloop up`"
        )
        raise typer.Exit(1)
    checks = check_all(state)
    table = Table("component", "health", "detail", box=None)
    for check in checks:
        table.add_row(
            check.component, "[green]healthy[/]" if check.ok else "[red]unhealthy[/]", check.detail
        )
    console.print(table)
    raise typer.Exit(0 if all(c.ok for c in checks) else 1)


@app.command()
def asyncapi(
    output: Annotated[Path, typer.Option(help="Where to write the document.")] = Path(
        "docs/asyncapi.yaml"
    ),
    check: Annotated[
        bool, typer.Option(help="Only check the file is current (exit 1 if stale).")
    ] = False,
) -> None:
    """Write the AsyncAPI document of the whole system, generated by FastStream."""
    from .asyncapi import render, write

    if check:
        current = output.exists() and output.read_text() == render()
        (console if current else errors).print(f"{output} is {'current' if current else 'stale'}")
        raise typer.Exit(0 if current else 1)
    changed = write(output)
    console.print(f"{'wrote' if changed else 'unchanged'} {output}")


@app.command()
def migrate(
    database_url: Annotated[str, typer.Option(envvar="DATABASE_URL", help="PostgreSQL URL.")],
) -> None:
    """Apply pending knowledge-store migrations to DATABASE_URL (services also do this at start)."""
    from driftloop_store import migrate_url

    applied = migrate_url(database_url)
    console.print(f"applied {', '.join(applied)}" if applied else "schema is up to date")


@spec_app.command("validate")
def spec_validate(
    file: Annotated[Path, typer.Argument(help="A YAML or TOML experiment spec.")],
) -> None:
    """Print OK, or every error with the field's path and the reason (exit 1)."""
    from driftloop_spec import SpecError, load_spec

    try:
        spec = load_spec(file)
    except SpecError as exc:
        for line in exc.lines():
            errors.print(f"{file}: {line}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"OK {file}: stream {spec.stream!r}, {len(spec.families)} model families")


@stream_app.command("register")
def stream_register(
    file: Annotated[Path, typer.Argument(help="The stream's experiment spec (YAML or TOML).")],
    home: Home = Path(".driftloop"),
) -> None:
    """Register (or update) a stream: its schema, target and spec, from a validated spec file.

    Ingestion accepts records only for registered streams and checks them against the schema.
    """
    import asyncio

    import psycopg

    from driftloop_spec import SpecError, load_spec
    from driftloop_store import migrate, register_stream

    from .connect import NotConnected, database_url

    try:
        spec = load_spec(file)
        url = database_url(home)
    except SpecError as exc:
        for line in exc.lines():
            errors.print(f"{file}: {line}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except NotConnected as exc:
        errors.print(str(exc))
        raise typer.Exit(1) from None
    schema = {name: str(kind) for name, kind in spec.features.items()}

    async def register() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await migrate(conn)
            await register_stream(
                conn, spec.stream, schema, spec.target, spec.model_dump(mode="json")
            )

    asyncio.run(register())
    console.print(
        f"registered stream {spec.stream!r}: {len(schema)} features, target {spec.target!r}"
    )


@app.command()
def produce(
    source: Annotated[
        str,
        typer.Argument(
            help="A .csv / .jsonl file, or a synthetic stream: agrawal, sea, hyperplane."
        ),
    ],
    stream: Annotated[
        str | None, typer.Option(help="Stream name (default: the generator's).")
    ] = None,
    count: Annotated[
        int, typer.Option(min=1, help="Records to generate (synthetic only).")
    ] = 10_000,
    rate: Annotated[
        float, typer.Option(min=0, help="Records per second; 0 = as fast as possible.")
    ] = 0.0,
    change: Annotated[
        list[str] | None,
        typer.Option(
            help="A concept change at record N: abrupt '5000', gradual '5000:1000'. Repeatable."
        ),
    ] = None,
    concepts: Annotated[
        str | None, typer.Option(help="Concept per segment, e.g. '0,4,0' for a recurring concept.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic stream.")] = 42,
    labels: Annotated[bool, typer.Option(help="Send labels with the records.")] = True,
    label_column: Annotated[str, typer.Option(help="Label column of a file.")] = "label",
    home: Home = Path(".driftloop"),
) -> None:
    """Stream records into driftloop.records, with a progress bar.

    Register the stream first (`driftloop stream register SPEC`): ingestion dead-letters
    records of unknown streams.
    """
    import asyncio

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from . import synthetic
    from .connect import NotConnected, bootstrap_servers
    from .produce import file_records
    from .produce import produce as send

    try:
        servers = bootstrap_servers(home)
        if source in synthetic.GENERATORS:
            changes = [synthetic.Change.parse(c) for c in change or []]
            wanted = [int(c) for c in concepts.split(",")] if concepts else None
            total: int | None = count
            records = synthetic.records(
                stream or source,
                source,
                count,
                seed=seed,
                changes=changes,
                concepts=wanted,
                labelled=labels,
            )
        else:
            path = Path(source)
            if not path.exists():
                raise ValueError(
                    f"{source}: no such file, and not a synthetic stream "
                    f"({', '.join(synthetic.GENERATORS)})"
                )
            total = None
            records = file_records(path, stream or path.stem, label_column)
    except (NotConnected, ValueError) as exc:
        errors.print(str(exc))
        raise typer.Exit(1) from None
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"producing to {servers}", total=total)
        started = time.monotonic()
        sent = asyncio.run(send(records, servers, rate, lambda n: progress.advance(task, n)))
    took = time.monotonic() - started
    console.print(f"sent {sent} records in {took:.1f}s ({sent / max(took, 1e-9):,.0f} records/s)")


# -- human control through the admin API ------------------------------------------------------


def _fail(message: str, code: int = 1) -> NoReturn:
    """Say what went wrong on stderr, unwrapped (ids and hashes stay whole), and exit."""
    errors.print(message, highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _admin(
    url: str | None, token: str | None, actor: str | None, home: Path
) -> Iterator[AdminClient]:
    """A client of the admin API; an AdminError anywhere inside is printed, exit 1."""
    from .admin import AdminClient, AdminError, os_user, resolve_token, resolve_url
    from .stack import read_state

    try:
        client = AdminClient(
            resolve_url(url, read_state(home)), resolve_token(token, home), actor or os_user()
        )
        try:
            yield client
        finally:
            client.close()
    except AdminError as exc:
        _fail(str(exc))


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
        _fail(f"{file} is a spec for stream {spec.stream!r}, not {stream!r}")
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


# -- lineage and replay, read from the knowledge base ------------------------------------------


def _database(home: Path) -> str:
    from .connect import NotConnected, database_url

    try:
        return database_url(home)
    except NotConnected as exc:
        _fail(str(exc))


@lineage_app.command("model")
def lineage_model(
    model_id: Annotated[str, typer.Argument(help="The model's id.")],
    as_json: Json = False,
    home: Home = Path(".driftloop"),
) -> None:
    """Trace a model: trigger -> experiment (and its seeds) -> trial -> snapshot -> model ->
    decisions -> when it served, and every human action that touched it.

    Reads the knowledge base at DATABASE_URL, else the running stack's; exit 1 if the
    model is unknown.
    """
    import psycopg

    from .lineage import gather, to_json, tree

    url = _database(home)

    async def read() -> dict[str, Any] | None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await gather(conn, model_id)

    try:
        found = asyncio.run(read())
    except psycopg.Error as exc:
        _fail(f"cannot read the knowledge base: {exc}")
    if found is None:
        _fail(f"no model {model_id!r} in the knowledge base")
    if as_json:
        typer.echo(to_json(found))
    else:
        console.print(tree(found))


@replay_app.command("trial")
def replay_trial(
    trial_id: Annotated[str, typer.Argument(help="The completed trial's id.")],
    home: Home = Path(".driftloop"),
) -> None:
    """Re-run a trial from its snapshot (hash verified) and seed with its family, parameters
    and experiment spec, and compare its metrics with the recorded ones.

    Exit 0 if every metric is identical, 1 if any differs, 2 if the trial cannot be
    replayed (unknown, not completed, snapshot missing or altered).
    """
    import psycopg

    from .replay import CannotReplay, load_inputs, replay

    url = _database(home)

    async def read() -> Any:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await load_inputs(conn, trial_id)

    try:
        inputs = asyncio.run(read())
        trial = inputs.trial
        console.print(
            f"replaying trial {trial_id}: {trial['family']} seed {trial['seed']} on snapshot "
            f"{inputs.snapshot_hash[:12]}",
            highlight=False,
        )
        result = replay(inputs)
    except (CannotReplay, psycopg.Error) as exc:
        _fail(f"cannot replay: {exc}", code=2)
    table = Table("metric", "recorded", "replayed", "", box=None)
    for name in sorted(result.recorded.keys() | result.replayed.keys()):
        recorded, replayed = result.recorded.get(name), result.replayed.get(name)
        mark = "[red]differs[/]" if name in result.differing else "[green]identical[/]"
        table.add_row(name, repr(recorded), repr(replayed), mark)
    console.print(table)
    _replay_notes(result)
    if result.identical:
        console.print("[bold green]identical[/]: the trial replays bit for bit")
        raise typer.Exit(0)
    console.print(f"[bold red]not identical[/]: {', '.join(result.differing)} differ")
    raise typer.Exit(1)


def _replay_notes(result: Any) -> None:
    same_artifact = result.recorded_artifact == result.replayed_artifact
    console.print(
        f"artifact sha256 {'identical' if same_artifact else 'differs'} "
        f"(recorded {result.recorded_artifact}, replayed {result.replayed_artifact})"
        + ("" if same_artifact else "; pickle bytes vary with dict order and RNG state"),
        highlight=False,
    )
    recorded, now = result.recorded_lineage, result.current_lineage
    if recorded["code_version"] != now["code_version"]:
        console.print(
            f"code version: recorded {recorded['code_version']}, now {now['code_version']}"
        )
    for name, version in sorted(now["library_versions"].items()):
        if recorded["library_versions"].get(name, version) != version:
            was = recorded["library_versions"][name]
            console.print(f"library {name}: recorded {was}, now {version}", highlight=False)


def main() -> None:
    app()
