"""Lineage and replay, read from the knowledge base."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ._shared import (
    Home,
    Json,
    console,
    database,
    fail,
    lineage_app,
    replay_app,
)

if TYPE_CHECKING:
    pass


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

    from ..lineage import gather, to_json, tree

    url = database(home)

    async def read() -> dict[str, Any] | None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await gather(conn, model_id)

    try:
        found = asyncio.run(read())
    except psycopg.Error as exc:
        fail(f"cannot read the knowledge base: {exc}")
    if found is None:
        fail(f"no model {model_id!r} in the knowledge base")
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

    from ..replay import CannotReplay, load_inputs, replay

    url = database(home)

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
        fail(f"cannot replay: {exc}", code=2)
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
