"""Splitting per-user work over large data into slices of users.

DuckDB's hash aggregation and the funnel's recursive step matching keep state that grows
with the users of their input and, over the 533 M events and 18 M users of a 10× dataset,
did not fit a 1 GB memory limit even with spilling. Above :data:`ROWS_PER_SLICE` event rows
such a query runs once per slice of users, ``hash(user_id) % slices = slice``: the slices
partition the users, and every row of these queries depends on one user's events only, so
the concatenated (or summed) results are those of one query (property tests). Each slice
reads the files again: large data trades time for memory.
"""

from __future__ import annotations

import duckdb

#: most event rows one per-user query covers (a scale-1 dataset has 53 M)
ROWS_PER_SLICE = 60_000_000


def user_slices(con: duckdb.DuckDBPyConnection) -> int:
    """ceil(event rows / ROWS_PER_SLICE), from the session variable ``event_rows`` that a
    Dataset sets (1 when unknown, as on a bare connection)."""
    rows = con.sql("SELECT getvariable('event_rows')").fetchall()[0][0]
    return max(1, -(-int(rows or 0) // ROWS_PER_SLICE))
