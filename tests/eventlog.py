"""Build a DuckDB connection with the loader's `events` and `users` views from a tiny log.

The views follow the loader contract the funnel/retention/lifecycle code is written
against (columns and types); channel_group is the raw channel (tests use group names).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl

TZ = "Asia/Shanghai"

# (user_id, local time 'YYYY-MM-DD HH:MM[:SS]', event_type, channel, campaign_id, amount)
Row = tuple[str, str, str, str | None, str | None, float | None]


def ev(
    user: str,
    when: str,
    event_type: str,
    channel: str | None = None,
    campaign: str | None = None,
    amount: float | None = None,
) -> Row:
    return (user, when, event_type, channel, campaign, amount)


def make_con(
    rows: Sequence[Row], acquisition: dict[str, str] | None = None
) -> duckdb.DuckDBPyConnection:
    """Connection with `events` and `users` views over ``rows``.

    users.acquisition_channel: ``acquisition[user]`` when given, else 'organic' for
    registered users (NULL for users who never registered).
    """
    con = duckdb.connect()
    con.sql(f"SET TimeZone = '{TZ}'")
    when = [r[1] if len(r[1]) > 16 else r[1] + ":00" for r in rows]
    raw = pl.DataFrame(
        {
            "user_id": [r[0] for r in rows],
            "local_time": when,
            "event_type": [r[2] for r in rows],
            "channel": [r[3] for r in rows],
            "campaign_id": [r[4] for r in rows],
            "amount": [r[5] for r in rows],
            "event_id": [f"e{i}" for i in range(len(rows))],
        },
        schema={
            "user_id": pl.String,
            "local_time": pl.String,
            "event_type": pl.String,
            "channel": pl.String,
            "campaign_id": pl.String,
            "amount": pl.Float64,
            "event_id": pl.String,
        },
    )
    acq = pl.DataFrame(
        {
            "user_id": list((acquisition or {}).keys()),
            "channel": list((acquisition or {}).values()),
        },
        schema={"user_id": pl.String, "channel": pl.String},
    )
    con.register("raw_events", raw)
    con.register("raw_acquisition", acq)
    con.sql(
        """
        CREATE VIEW events AS
        SELECT
            user_id,
            CAST(CAST(local_time AS TIMESTAMP) AS TIMESTAMPTZ) AS event_time,
            CAST(local_time AS TIMESTAMP) AS local_time,
            CAST(CAST(local_time AS TIMESTAMP) AS DATE) AS event_date,
            event_type,
            channel,
            lower(channel) AS channel_group,
            campaign_id,
            amount,
            CAST(NULL AS VARCHAR) AS order_id,
            CAST(NULL AS VARCHAR) AS referrer_id,
            event_id
        FROM raw_events
        """
    )
    con.sql(
        """
        CREATE VIEW users AS
        WITH regs AS (
            SELECT user_id, min(event_time) AS register_time
            FROM events WHERE event_type = 'register' GROUP BY user_id
        ),
        orders AS (
            SELECT user_id, min(event_time) AS first_order_time
            FROM events WHERE event_type = 'order' GROUP BY user_id
        ),
        ids AS (
            SELECT DISTINCT user_id FROM events
            WHERE event_type IN ('register', 'active', 'campaign_join', 'order')
        )
        SELECT
            ids.user_id,
            r.register_time,
            CAST(r.register_time AS DATE) AS register_date,
            CAST(NULL AS VARCHAR) AS referrer_id,
            o.first_order_time,
            CAST(o.first_order_time AS DATE) AS first_order_date,
            CASE WHEN r.register_time IS NOT NULL THEN coalesce(a.channel, 'organic') END
                AS acquisition_channel
        FROM ids
        LEFT JOIN regs AS r USING (user_id)
        LEFT JOIN orders AS o USING (user_id)
        LEFT JOIN raw_acquisition AS a USING (user_id)
        """
    )
    return con
