"""On-demand timing of funnel / retention / segments on synthetic events (not a test).

    PYTHONPATH=. /work/venv/bin/python benchmarks/bench_lifecycle.py [--users N]

Generates N users x ~10 events in DuckDB (no files), builds the loader-contract views and
reports each call's wall time next to the "floor": row_number() over (partition by user_id
order by event_time) over all events, aggregated (SPEC §10).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date, timedelta

import duckdb

from campaign_roi.funnel import funnel
from campaign_roi.lifecycle import segments
from campaign_roi.retention import retention


def build(con: duckdb.DuckDBPyConnection, users: int) -> None:
    con.sql("SET TimeZone = 'Asia/Shanghai'")
    con.sql("SELECT setseed(0.42)").fetchall()
    con.sql(
        """
        CREATE TABLE ev AS
        WITH u AS (
            SELECT range AS n, 'u' || range AS user_id,
                   TIMESTAMP '2024-07-01' + to_seconds(CAST(random() * 450 * 86400 AS BIGINT)) AS t0
            FROM range($users)
        ),
        e AS (
            SELECT u.user_id, k,
                   u.t0 + to_seconds(CAST(k * random() * 6 * 86400 AS BIGINT)) AS local_time,
                   CASE WHEN k = 0 THEN 'touch' WHEN k = 1 THEN 'register'
                        WHEN random() < 0.15 THEN 'order'
                        WHEN random() < 0.1 THEN 'campaign_join'
                        WHEN random() < 0.1 THEN 'touch' ELSE 'active' END AS event_type
            FROM u, range(0, 2 + CAST(hash(u.n) % 16 AS INTEGER)) AS r(k)
        )
        SELECT user_id, CAST(local_time AS TIMESTAMPTZ) AS event_time, local_time,
               CAST(local_time AS DATE) AS event_date, event_type,
               CASE WHEN event_type = 'touch' THEN ['kol', 'feed_ads', 'referral', 'direct'][1 + CAST(floor(random() * 4) AS INTEGER)] END AS channel,
               CAST(NULL AS VARCHAR) AS campaign_id,
               CASE WHEN event_type = 'order' THEN round(random() * 300, 2) END AS amount,
               CAST(NULL AS VARCHAR) AS order_id, CAST(NULL AS VARCHAR) AS referrer_id,
               CAST(row_number() OVER () AS VARCHAR) AS event_id
        FROM e
        """,
        params={"users": users},
    )
    con.sql("UPDATE ev SET campaign_id = 'bts' WHERE event_type = 'campaign_join'")
    con.sql("CREATE VIEW events AS SELECT *, channel AS channel_group FROM ev")
    con.sql(
        """
        CREATE TABLE users AS
        SELECT user_id,
               min(event_time) FILTER (WHERE event_type = 'register') AS register_time,
               CAST(min(event_time) FILTER (WHERE event_type = 'register') AS DATE) AS register_date,
               CAST(NULL AS VARCHAR) AS referrer_id,
               min(event_time) FILTER (WHERE event_type = 'order') AS first_order_time,
               CAST(min(event_time) FILTER (WHERE event_type = 'order') AS DATE) AS first_order_date,
               'organic' AS acquisition_channel
        FROM ev WHERE event_type <> 'touch' GROUP BY user_id
        """
    )


def timed(label: str, fn: Callable[[], object], floor: float | None) -> float:
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    ratio = f"  ({elapsed / floor:.2f}x floor)" if floor else ""
    print(f"{label:<42} {elapsed:7.2f} s{ratio}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=300_000)
    args = parser.parse_args()
    con = duckdb.connect()
    build(con, args.users)
    n = con.sql("SELECT count(*) FROM ev").fetchall()[0][0]
    print(f"{n:,} events, {args.users:,} users")
    floor = timed(
        "floor: row_number over all events",
        lambda: con.sql(
            "SELECT max(rn) FROM (SELECT row_number() OVER (PARTITION BY user_id "
            "ORDER BY event_time) AS rn FROM events)"
        ).fetchall(),
        None,
    )
    q3 = (date(2025, 7, 1), date(2025, 9, 30))
    timed("funnel register>active>order (Q3)",
          lambda: funnel(con, ["register", "active", "order"], *q3), floor)
    timed("funnel touch>register>first_order by channel",
          lambda: funnel(con, ["touch", "register", "first_order"], *q3,
                         window=timedelta(days=30), by="channel"), floor)
    timed("retention register month x3",
          lambda: retention(con, "register", "month", 3), floor)
    timed("retention first_order week x8 by week",
          lambda: retention(con, "first_order", "week", 8, cohort_by="week"), floor)
    timed("segments (last day)", lambda: segments(con), floor)


if __name__ == "__main__":
    main()
