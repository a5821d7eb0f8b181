"""``driftloop demo``: the whole loop, end to end, with nobody touching it.

It starts the stack as ``driftloop up`` does (in a temporary home unless given one),
registers a stream with the packaged demo spec, and plays a drifting Agrawal stream
through it with the :class:`~driftloop.loop.LoopDriver`: records in, predictions out,
labels back. Drift is detected, experiments run seeded from earlier ones, models are
promoted; a live view shows it happening, read from the knowledge store. At the end it
prints a summary, writes the accuracy plot (PNG, HTML) and ``summary.json``, and stops
everything, as it does on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
from psycopg.rows import dict_row
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from driftloop_spec import ExperimentSpec, parse_spec, validate_spec
from driftloop_store import register_stream

from .embedded import free_port
from .loop import LoopConfig, LoopDriver, Tick
from .plot import Marker, accuracy, write_html, write_png
from .processes import healthy
from .stack import AlreadyRunning, Interrupted, Stack, home_lock, reap
from .synthetic import Change

WINDOW = 300  # records in the sliding accuracy
READY_TIMEOUT = 180.0  # seconds for every service to be healthy
LAG = 10.0  # seconds a record's answer may take on a busy machine


@dataclass(frozen=True)
class DemoOptions:
    count: int = 7500
    rate: float = 50.0
    label_delay: float = 1.0
    changes: tuple[Change, ...] = (Change(2000), Change(5000))
    concepts: tuple[int, ...] = (0, 2, 0)
    out: Path = Path(".driftloop/demo")
    home: Path | None = None  # None: a temporary one, removed at the end
    training_replicas: int = 2
    warmup: int = 300
    seed: int = 42


def options_from(
    count: int,
    rate: float,
    label_delay: float,
    changes: str,
    concepts: str,
    out: Path,
    home: Path | None,
    training_replicas: int,
) -> DemoOptions:
    """The command line's options, checked before anything starts (ValueError says why)."""
    found = tuple(
        sorted((Change.parse(c) for c in changes.split(",") if c.strip()), key=lambda c: c.at)
    )
    kinds = tuple(int(k) for k in concepts.split(","))
    if any(not 0 <= k <= 9 for k in kinds):
        raise ValueError(f"Agrawal has concepts 0 to 9, not {concepts}")
    if len(kinds) != len(found) + 1:
        raise ValueError(f"{len(found)} changes need {len(found) + 1} concepts, got {len(kinds)}")
    if found and found[-1].at >= count:
        raise ValueError(f"a change at record {found[-1].at} is past the last record ({count - 1})")
    return DemoOptions(count, rate, label_delay, found, kinds, out, home, training_replicas)


def demo_spec(stream: str) -> ExperimentSpec:
    text = resources.files("driftloop").joinpath("demo_spec.yaml").read_text()
    return validate_spec({**parse_spec(text, "yaml").model_dump(mode="json"), "stream": stream})


# -- what the knowledge store says ---------------------------------------------------------

FACTS = {
    "ingested": "SELECT count(*) AS n FROM records WHERE stream = %(s)s",
    "alarms": "SELECT event_id, detector, source, severity, at,"
    " evidence->>'change_record_id' AS change_record,"
    " evidence->>'alarm_record_id' AS alarm_record,"
    " evidence->'before' AS before, evidence->'after' AS after"
    " FROM drift_events WHERE stream = %(s)s ORDER BY at",
    "experiments": "SELECT e.id, e.trigger, e.trigger_ref, e.status, e.reason, e.created_at,"
    " e.ended_at, e.candidate_model_id, e.budget_trials,"
    " (SELECT count(*) FROM experiment_seeds s WHERE s.experiment_id = e.id) AS seeds,"
    " (SELECT count(*) FROM trials t WHERE t.experiment_id = e.id AND t.status = 'completed')"
    " AS trials_done,"
    " (SELECT count(*) FROM trials t WHERE t.experiment_id = e.id) AS trials"
    " FROM experiments e WHERE e.stream = %(s)s ORDER BY e.created_at",
    "promotions": "SELECT h.id, h.model_id, m.version, m.family, h.reason, h.started_at,"
    " d.experiment_id FROM serving_history h JOIN models m ON m.id = h.model_id"
    " LEFT JOIN decisions d ON d.id = h.decision_id WHERE h.stream = %(s)s ORDER BY h.id",
}


async def read_facts(database: str, stream: str) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        found: dict[str, Any] = {}
        for name, query in FACTS.items():
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(query, {"s": stream})
                found[name] = await cur.fetchall()
        found["ingested"] = found["ingested"][0]["n"]
        return found


# -- the live view -------------------------------------------------------------------------


@dataclass
class Board:
    """What the live view shows: the driver's ticks and counters, the store's facts."""

    stream: str
    options: DemoOptions
    driver: LoopDriver | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    ticks: list[Tick] = field(default_factory=list)
    recent: deque[bool] = field(default_factory=deque)
    # Counts kept as ticks come: Live renders from its own thread, which must not iterate
    # a deque the event loop is changing.
    right: int = 0
    right_recent: int = 0

    def tick(self, tick: Tick) -> None:
        self.ticks.append(tick)
        self.recent.append(tick.correct)
        self.right += tick.correct
        self.right_recent += tick.correct
        if len(self.recent) > WINDOW:
            self.right_recent -= self.recent.popleft()

    def seconds(self, at: datetime) -> float:
        assert self.driver is not None and self.driver.started is not None
        return (at - self.driver.started).total_seconds()

    def __rich__(self) -> Group:
        driver, facts, o = self.driver, self.facts, self.options
        sent = driver.sent if driver else 0
        concept = o.concepts[sum(sent >= c.at for c in o.changes)]
        table = Table.grid(padding=(0, 2))
        table.add_row(
            "[bold]records[/]",
            f"sent {sent}/{o.count} (concept {concept})   ingested {facts.get('ingested', 0)}"
            f"   labels given {driver.labels_sent if driver else 0}",
        )
        seen, recent = len(self.ticks), len(self.recent)
        overall = self.right / seen if seen else 0.0
        window = self.right_recent / recent if recent else 0.0
        table.add_row("[bold]accuracy[/]", f"last {recent}: {window:.1%}   overall: {overall:.1%}")
        serving = driver.serving if driver else None
        table.add_row(
            "[bold]serving[/]", f"model v{serving[1]} ({serving[0][:8]})" if serving else "none yet"
        )
        experiments = facts.get("experiments", [])
        running = [e for e in experiments if e["status"] in ("pending", "running", "paused")]
        doing = (
            f" - running: {running[0]['trials_done']}/{running[0]['budget_trials']} trials"
            if running
            else ""
        )
        table.add_row(
            "[bold]loop[/]",
            f"drift alarms {len(facts.get('alarms', []))}   experiments {len(experiments)}{doing}"
            f"   promotions {len(facts.get('promotions', []))}",
        )
        playing = (
            (datetime.now(UTC) - driver.started).total_seconds() if driver and driver.started else 0
        )
        title = f"[bold]driftloop demo[/] - stream {self.stream} - {playing:.0f}s"
        title += f" of ~{o.count / o.rate:.0f}s"
        return Group(title, table, *self.events()[-8:])

    def events(self) -> list[str]:
        """The story so far, one line per alarm, experiment and promotion, in time order."""
        if self.driver is None or self.driver.started is None:
            return []
        found: list[tuple[datetime, str]] = []
        for a in self.facts.get("alarms", []):
            line = f"[red]drift alarm[/]: {a['detector']} on {a['source']} ({a['severity']})"
            found.append((a["at"], line))
        for e in self.facts.get("experiments", []):
            seeded = f", {e['seeds']} seeds from knowledge" if e["seeds"] else ""
            found.append((e["created_at"], f"experiment {e['id'][:8]} ({e['trigger']}){seeded}"))
            if e["ended_at"]:
                line = f"experiment {e['id'][:8]} {e['status']}: {e['trials_done']} trials"
                found.append((e["ended_at"], line))
        for p in self.facts.get("promotions", []):
            line = f"[green]promoted[/] model v{p['version']} {p['family']} ({p['reason']})"
            found.append((p["started_at"], line))
        return [f"  {self.seconds(at):6.1f}s  {line}" for at, line in sorted(found)]


# -- running it ------------------------------------------------------------------------------


class Stopper:
    """SIGINT/SIGTERM: flag the stack (it is starting) and cancel the loop (it is playing)."""

    def __init__(self, stack: Stack, console: Console) -> None:
        self.stack, self.console = stack, console
        self.task: asyncio.Task[Any] | None = None

    def __call__(self, signum: int, _frame: object) -> None:
        already, self.stack.stopping = self.stack.stopping, True
        if not already:
            self.console.print(f"\n{signal.Signals(signum).name}: stopping the demo")
        if self.task is not None:
            self.task.get_loop().call_soon_threadsafe(self.task.cancel)


async def play(
    stack: Stack, stream: str, database: str, options: DemoOptions, board: Board, stopper: Stopper
) -> tuple[list[Tick], dict[str, Any]]:
    stopper.task = asyncio.current_task()
    serving = next(s for s in stack.services if s.name == "serving")
    config = LoopConfig(
        stream=stream,
        count=options.count,
        rate=options.rate,
        label_delay=options.label_delay,
        changes=options.changes,
        concepts=options.concepts,
        seed=options.seed,
    )
    board.driver = driver = LoopDriver(
        config,
        bootstrap_servers=stack.bootstrap,
        serving_url=serving.url,
        admin_url=serving.url,
        admin_token=stack.admin_token,
        warmup=options.warmup,
    )

    async def watch() -> None:
        while True:
            with contextlib.suppress(psycopg.Error):  # a restarting database: next time
                board.facts = await read_facts(database, stream)
            await asyncio.to_thread(stack.check_health)  # restarts a service that died
            await asyncio.sleep(1.0)

    watcher = asyncio.create_task(watch())
    try:
        with Live(board, console=stopper.console, refresh_per_second=4):
            ticks = await driver.run(board.tick)
            board.facts = await read_facts(database, stream)
        if not stopper.console.is_terminal:
            stopper.console.print()  # the last frame ends without a line break
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    return ticks, board.facts


def run_demo(options: DemoOptions, console: Console) -> int:
    """Start, play, report, stop. Returns the exit code."""
    home = options.home or Path(tempfile.mkdtemp(prefix="driftloop-demo-"))
    try:
        return _run(options, home, console)
    finally:
        if options.home is None:
            _keep_logs(home, options.out, console)
            shutil.rmtree(home, ignore_errors=True)


def _run(options: DemoOptions, home: Path, console: Console) -> int:
    stream = f"demo_{uuid4().hex[:6]}"
    stack = Stack(home, console, options.training_replicas, free_port())
    stopper = Stopper(stack, console)
    signal.signal(signal.SIGINT, stopper)
    signal.signal(signal.SIGTERM, stopper)
    board = Board(stream, options)
    outcome: tuple[list[Tick], dict[str, Any]] | None = None
    code = 1
    try:
        with home_lock(home):
            reap(home, console)
            try:
                database = stack.start_infrastructure()
                asyncio.run(_register(database, demo_spec(stream)))
                console.print(f"[green]✓[/] stream       {stream} registered with the demo spec")
                # Serving scores on its event loop: OpenMP's thread per core made a boosted
                # tree's one-row prediction take up to seconds on a busy 2-core machine.
                os.environ.setdefault("OMP_NUM_THREADS", "1")
                stack.start_services(database)
                if _ready(stack, console):
                    outcome = asyncio.run(play(stack, stream, database, options, board, stopper))
                    code = 0
            except (Interrupted, asyncio.CancelledError):
                console.print("[yellow]demo interrupted[/]")
                code = 130  # as a shell reports a program stopped by Ctrl-C
                if board.ticks and board.facts:  # report what ran
                    outcome = sorted(board.ticks, key=lambda t: t.index), board.facts
            except Exception as exc:
                console.print(f"[red]demo failed: {type(exc).__name__}: {exc}[/]")
            finally:
                stopper.task = None
                stack.stop()
    except AlreadyRunning:
        console.print(f"[red]driftloop is already running from {home}[/]")
        return 1
    if outcome is not None:
        report(options, stream, *outcome, board, console)
    return code


def _ready(stack: Stack, console: Console) -> bool:
    """Whether every service is healthy, waiting READY_TIMEOUT for the slow ones: on a busy
    machine importing the ML libraries can outlast the supervisor's patience."""
    deadline = time.monotonic() + READY_TIMEOUT
    while unhealthy := [s.name for s in stack.services if not healthy(s.url)[0]]:
        if stack.stopping:
            raise Interrupted
        if time.monotonic() > deadline:
            console.print(f"[red]unhealthy: {', '.join(unhealthy)}[/]; the demo needs them all")
            return False
        stack.check_health()
        time.sleep(1.0)
    return True


async def _register(database: str, spec: ExperimentSpec) -> None:
    schema = {name: str(kind) for name, kind in spec.features.items()}
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as conn:
        await register_stream(conn, spec.stream, schema, spec.target, spec.model_dump(mode="json"))


def _keep_logs(home: Path, out: Path, console: Console) -> None:
    if (home / "logs").is_dir():
        shutil.copytree(home / "logs", out / "logs", dirs_exist_ok=True)
        console.print(f"service logs in {out / 'logs'}")


# -- the report ------------------------------------------------------------------------------


def report(
    options: DemoOptions,
    stream: str,
    ticks: list[Tick],
    facts: dict[str, Any],
    board: Board,
    console: Console,
) -> None:
    """The summary table, ``summary.json`` and the plot, in ``options.out``."""
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    at = [t.at for t in ticks]

    def index(when: datetime) -> int:
        seconds = board.seconds(when)
        return next((i for i, a in enumerate(at) if a >= seconds), len(at) - 1)

    alarms = [{**a, "index": index(a["at"])} for a in facts["alarms"]]
    promotions: list[dict[str, Any]] = []
    for p in facts["promotions"]:
        # The first answer from the new model: to a record sent after the last promotion
        # and at most LAG before this one (a busy machine answers seconds late).
        since = board.seconds(p["started_at"]) - LAG
        last = promotions[-1]["index"] if promotions else -1
        served = next(
            (
                t.index
                for t in ticks
                if t.index > last and t.at >= since and t.model_id == p["model_id"]
            ),
            None,
        )
        before = served if served is not None else index(p["started_at"])
        promotions.append(
            {
                **p,
                "index": before,
                "served_from": served,
                "accuracy_before": accuracy(ticks, before - WINDOW, before),
                "accuracy_after": accuracy(ticks, before, before + WINDOW),
            }
        )
    markers = [
        *(
            Marker(c.at, "change", f"concept {k}")
            for c, k in zip(options.changes, options.concepts[1:], strict=True)
        ),
        *(Marker(a["index"], "alarm", a["detector"]) for a in alarms),
        *(Marker(p["index"], "promotion", f"v{p['version']} {p['reason']}") for p in promotions),
    ]
    summary = {
        "stream": stream,
        "options": {**asdict(options), "out": str(options.out), "home": str(options.home)},
        "window": WINDOW,
        "failures": dict(board.driver.failures if board.driver else Counter()),
        "ticks": [asdict(t) for t in ticks],
        "alarms": alarms,
        "experiments": facts["experiments"],
        "promotions": promotions,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    title = f"driftloop demo - {stream}: accuracy over the last {WINDOW} records"
    write_png(out / "accuracy.png", ticks, markers, WINDOW, title)
    write_html(out / "accuracy.html", ticks, markers, WINDOW, title)
    console.print(summary_table(options, ticks, alarms, facts["experiments"], promotions))
    console.print(
        f"plot: {out / 'accuracy.png'}, {out / 'accuracy.html'}; data: {out / 'summary.json'}"
    )


def summary_table(
    options: DemoOptions,
    ticks: list[Tick],
    alarms: list[dict[str, Any]],
    experiments: list[dict[str, Any]],
    promotions: list[dict[str, Any]],
) -> Group:
    bounds = [0, *(c.at for c in options.changes), options.count]
    overview = Table(
        "", "", title="driftloop demo: summary", title_justify="left", show_header=False
    )
    took = ticks[-1].at if ticks else 0.0
    overview.add_row(
        "records", f"{len(ticks)} in {took:.0f}s ({len(ticks) / max(took, 1e-9):.1f}/s)"
    )
    overall = accuracy(ticks, 0, options.count)
    overview.add_row("accuracy", f"{overall or 0:.1%} overall (prequential)")
    for k, (low, high) in enumerate(itertools.pairwise(bounds)):
        found = accuracy(ticks, low, high)
        text = f"{found:.1%}" if found is not None else "-"
        overview.add_row(f"  concept {options.concepts[k]}", f"{text} on records {low}-{high - 1}")
    for a in alarms:
        overview.add_row(
            "drift alarm",
            f"at record {a['index']}: {a['detector']} on {a['source']}, fired by record"
            f" {_position(a['alarm_record'])}'s label, change from {_position(a['change_record'])}",
        )
    if not alarms:
        overview.add_row("drift alarms", "none")
    steps = Table(
        "experiment", "trigger", "status", "trials", "seeds", "result", title_justify="left"
    )
    for e in experiments:
        steps.add_row(
            e["id"][:8],
            e["trigger"],
            e["status"],
            str(e["trials_done"]),
            str(e["seeds"]),
            e["reason"][:60],
        )
    swaps = Table(
        "promoted", "family", "reason", "at record", f"acc. {WINDOW} before", f"acc. {WINDOW} after"
    )
    for p in promotions:
        before, after = p["accuracy_before"], p["accuracy_after"]
        swaps.add_row(
            f"v{p['version']}",
            p["family"],
            p["reason"],
            str(p["index"]),
            f"{before:.1%}" if before is not None else "-",
            f"{after:.1%}" if after is not None else "-",
        )
    return Group(overview, steps, swaps)


def _position(record_id: str | None) -> str:
    """A demo record's index, from its id (``<stream>-<index>``)."""
    tail = (record_id or "").rpartition("-")[2]
    return str(int(tail)) if tail.isdigit() else "?"
