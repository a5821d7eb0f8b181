"""Every SQL statement is text fixed in the code: values reach PostgreSQL as parameters,
never inside the statement.

Read from the syntax trees of the code that runs (libs, services, the CLI, the benchmarks):
the query given to ``execute``, ``executemany`` or ``copy`` may be built with an f-string,
``%``, ``+``, ``.format`` or ``.join`` only from literals and names bound to nothing but
literals (module constants, or locals assigned only literals); identifiers are composed
with ``psycopg.sql``. A name the query arrives under from elsewhere (a parameter of a
helper, a loop over constant statements, a migration file's text) is not built here.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parent.parent
CODE = [
    *ROOT.glob("libs/*/src/**/*.py"),
    *ROOT.glob("services/*/src/**/*.py"),
    *ROOT.glob("src/**/*.py"),
    *ROOT.glob("bench/**/*.py"),
]
QUERY_METHODS = {"execute", "executemany", "copy"}
COMPOSITION = {"SQL", "Identifier", "Literal", "Composed", "Placeholder"}  # psycopg.sql

Bindings = dict[str, list[ast.expr]]


def bindings(body: list[ast.stmt], nested: bool) -> Bindings:
    """Every value each name is assigned in ``body`` (and, if ``nested``, in its blocks)."""
    found: Bindings = defaultdict(list)
    nodes = [n for stmt in body for n in ast.walk(stmt)] if nested else body
    for node in nodes:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id].append(node.value)
        elif (
            isinstance(node, ast.AnnAssign | ast.AugAssign)
            and isinstance(node.target, ast.Name)
            and node.value is not None
        ):
            found[node.target.id].append(node.value)
    return found


def literal(expr: ast.expr, names: Bindings, seen: frozenset[str] = frozenset()) -> bool:
    """Whether ``expr`` evaluates to the same text whatever the program's input."""

    def ok(e: ast.expr | None) -> bool:
        return e is None or literal(e, names, seen)

    match expr:
        case ast.Constant():
            return True
        case ast.JoinedStr(values=parts):
            return all(
                ok(p.value) and ok(p.format_spec) if isinstance(p, ast.FormattedValue) else True
                for p in parts
            )
        case ast.BinOp(op=ast.Add() | ast.Mod(), left=left, right=right):
            return ok(left) and ok(right)
        case ast.Tuple(elts=items) | ast.List(elts=items):
            return all(ok(item) for item in items)
        case ast.Dict(keys=keys, values=values):
            return all(ok(k) for k in keys) and all(ok(v) for v in values)
        case ast.Call(func=ast.Attribute(attr="format" | "join", value=receiver)):
            arguments = [*expr.args, *(k.value for k in expr.keywords)]
            return ok(receiver) and all(ok(a) for a in arguments)
        case ast.Name(id=name) if name in names and name not in seen:
            return all(literal(v, names, seen | {name}) for v in names[name])
    return False


def composed(expr: ast.expr) -> bool:
    """Whether ``expr`` is ``psycopg.sql`` composition: identifiers quoted, values bound."""
    while isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Attribute) and func.attr in COMPOSITION:
            return True
        if isinstance(func, ast.Name) and func.id in COMPOSITION:
            return True
        if isinstance(func, ast.Attribute) and func.attr in ("format", "join"):
            expr = func.value
            continue
        return False
    return False


def unsafe_queries(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    module = bindings(tree.body, nested=False)
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    scopes = [(f, {**module, **bindings(f.body, nested=True)}) for f in functions]
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS
            and node.args
        ):
            continue
        query = node.args[0]
        names = next(
            (
                names
                for function, names in reversed(scopes)
                if function.lineno <= node.lineno <= (function.end_lineno or function.lineno)
            ),
            module,
        )
        if composed(query) or literal(query, names):
            continue
        if isinstance(query, ast.Name) and query.id not in names:
            continue  # a parameter or loop variable: built, if at all, where it is given
        if isinstance(query, ast.Attribute):
            continue  # read from an object (a migration's file text)
        yield node.lineno, ast.unparse(query)[:120]


def test_the_code_is_read() -> None:
    assert len(CODE) > 100
    assert any(path.name == "store.py" and "ingestion" in str(path) for path in CODE)


def test_no_sql_statement_is_built_from_values() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {query}"
        for path in CODE
        for line, query in unsafe_queries(path)
    ]
    assert found == [], "SQL built from values:\n" + "\n".join(found)


def test_the_check_tells_a_value_from_a_constant(tmp_path: Path) -> None:
    source = tmp_path / "example.py"
    source.write_text(
        """
from psycopg import sql
COLUMNS = "a, b"
SELECT = f"SELECT {COLUMNS} FROM t"

async def fine(conn, name, table, query):
    where = "a = %s"
    await conn.execute(SELECT + " WHERE " + where, (name,))
    await conn.execute("SELECT {c} FROM t".format(c=COLUMNS))
    await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
    await conn.execute(query, (name,))

async def unsafe(conn, name, limit):
    await conn.execute(f"SELECT * FROM t WHERE a = '{name}'")
    await conn.execute("SELECT * FROM t WHERE a = '%s'" % name)
    await conn.execute(SELECT + " LIMIT " + str(limit))
    await conn.execute("SELECT {} FROM t".format(name))
    where = f"a = '{name}'"
    await conn.execute(SELECT + where)
"""
    )
    assert [line for line, _ in unsafe_queries(source)] == [14, 15, 16, 17, 19]
