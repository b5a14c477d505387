"""Many rows in one INSERT, fast on both databases.

PostgreSQL gets the rows as one JSON parameter (`INSERT … SELECT … FROM json_to_recordset(…)`): one
placeholder whatever the number of rows (a VALUES list of thousands of placeholders, or one array per column,
costs more to build, send and parse than to run). SQLite gets SQLAlchemy's multi-row VALUES.
Ids come back in the order of the rows given.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session


def insert_many(session: Session, table: Table, rows: Sequence[dict[str, Any]], *, returning_ids: bool = False,
                skip_conflicts_on: Sequence[str] = ()) -> list[int]:
    """Insert `rows` (dicts with the same keys; values as the columns take them, datetimes aware); with
    `returning_ids`, their new ids in the order of `rows`. `skip_conflicts_on` names a unique key: a row that
    would repeat it is left out (ON CONFLICT DO NOTHING), and waits for a concurrent writer of that key."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _postgresql(session, table, rows, returning_ids, skip_conflicts_on)
    if skip_conflicts_on:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt: Any = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
    else:
        stmt = insert(table)
    if returning_ids:
        return [int(i) for i in session.execute(stmt.returning(table.c.id, sort_by_parameter_order=True),
                                                list(rows)).scalars()]
    session.execute(stmt, list(rows))
    return []


def _postgresql(session: Session, table: Table, rows: Sequence[dict[str, Any]], returning_ids: bool,
                skip_conflicts_on: Sequence[str]) -> list[int]:
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    columns = list(rows[0])
    names = ", ".join(quote(c) for c in columns)
    types = ", ".join(f"{quote(c)} {table.c[c].type.compile(dialect=dialect)}" for c in columns)
    sql = (f"INSERT INTO {quote(table.name)} ({names}) SELECT {names} FROM ROWS FROM "
           f"(json_to_recordset(CAST(:rows AS json)) AS ({types})) WITH ORDINALITY AS u({names}, ord_) ORDER BY ord_")
    if skip_conflicts_on:
        sql += f" ON CONFLICT ({', '.join(quote(c) for c in skip_conflicts_on)}) DO NOTHING"
    params = {"rows": json.dumps(rows, ensure_ascii=False, default=_json_value)}
    if not returning_ids:
        session.execute(text(sql), params)
        return []
    # INSERT … SELECT … ORDER BY takes the serial ids in that order: sorted ids are the rows' ids, in order.
    return sorted(int(i) for i in session.execute(text(sql + " RETURNING id"), params).scalars())


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return _timestamp(value)
    raise TypeError(f"{type(value).__name__} is not a column value insert_many can send")


@lru_cache(maxsize=64)          # a batch's rows share a few timestamps (its `now`, due times)
def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime (bot.clock.utcnow())")
    return value.isoformat()
