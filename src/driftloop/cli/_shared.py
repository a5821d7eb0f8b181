"""What every command module shares: the command groups, the consoles, the common options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

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


def fail(message: str, code: int = 1) -> NoReturn:
    """Say what went wrong on stderr, unwrapped (ids and hashes stay whole), and exit."""
    errors.print(message, highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code)


def database(home: Path) -> str:
    from ..connect import NotConnected, database_url

    try:
        return database_url(home)
    except NotConnected as exc:
        fail(str(exc))
