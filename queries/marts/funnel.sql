-- Funnel step matching (SPEC §6): one row per (user, step the user reached).
--
-- A user enters at their first step-1 event whose local date lies in [$start, $end].
-- Step k (k > 1) is reached when an event matching step k exists that
--   * is at or after the event used for step k-1 (event_time >=),
--   * is not an event already used for an earlier step (an event serves one step only),
--   * lies within the window of the entry: event_time - entry_time <= $window_us (inclusive);
-- the earliest such event (ties: event_type, campaign_id, event_id) is used. Steps are
-- matched in order; a user who misses step k reaches no later step.
--
-- Only the entrants' events between their entry and the end of their window are numbered
-- and matched (every step event used lies there), so the per-user window and the step
-- recursion see a small fraction of the period's events.
--
-- The numbering serves "an event serves one step only" and the order of events at the same
-- instant. When every step has its own event type and nothing is read off the entry event
-- ($numbered = false: campaign_roi.funnel numbers only when two steps share a type or the
-- funnel is broken down --by something), an event can match one step only, so no event can
-- be used twice, and events tied on event_time give the same step times whichever is
-- taken: the events are not numbered (seq = 0), event_id is not read, and the result is the
-- same (a property test runs both ways).
--
-- Reads `events` and the temp relation `first_conversions` (conversion_type, user_id,
-- conversion_time, conversion_date: each user's first register and first order ever),
-- which campaign_roi/funnel.py stages for the query: a view over the materialised
-- `conversions` table when there is one, else a table computed from `events` (empty when
-- no step is first_order).
--
-- Parameters:
--   $step_types      VARCHAR[]  event type of each step, in order
--   $step_campaigns  VARCHAR[]  campaign_id the step requires (NULL = any campaign)
--   $step_first      BOOLEAN[]  true = only the user's first-ever order matches (first_order)
--   $start, $end     DATE       inclusive local dates of the entry period
--   $scan_end        DATE       last local date a later step can fall on (end + window, rounded up)
--   $window_us       BIGINT     window length in microseconds
--   $by_mode         VARCHAR    'none' | 'channel' | 'column'
--   $numbered        BOOLEAN    number the entrants' events (false only when every step has
--                               its own event type and $by_mode = 'none', see above)
--   $by_column       VARCHAR    events column read from the entry event when $by_mode = 'column'
--                               (always a real column name, validated by the caller)
--   $user_slices, $user_slice  INTEGER  only the users with hash(user_id) % $user_slices =
--                               $user_slice (large data runs the query once per slice: every
--                               user's rows depend on that user's events only)
--
-- Output: by_value (the entry's column value for 'column'; the entry touch's channel_group
-- for 'channel', NULL for other entries: the caller adds their acquisition channel),
-- entry_type, user_id, step, step_time, entry_time, seconds_from_previous.

WITH RECURSIVE

-- import CTEs ---------------------------------------------------------------------------
step_events AS NOT MATERIALIZED (
    -- local dates $start..$scan_end, as a range on local_time so that files and row groups
    -- outside it are skipped; read twice (entries, then the entrants' windows)
    SELECT
        e.user_id,
        e.event_time,
        e.local_time,
        e.event_date,
        e.event_type,
        e.campaign_id,
        e.event_id,
        e.channel_group,
        CASE
            WHEN $by_mode = 'column'
                AND e.event_date <= $end
                AND e.event_type = ($step_types::VARCHAR[])[1]
            THEN CAST(struct_extract(e, $by_column) AS VARCHAR)
        END AS by_raw
    FROM events AS e
    WHERE e.local_time >= CAST($start::DATE AS TIMESTAMP)
      AND e.local_time < CAST($scan_end::DATE + 1 AS TIMESTAMP)
      AND hash(e.user_id) % CAST($user_slices AS UBIGINT) = CAST($user_slice AS UBIGINT)
      AND list_contains($step_types::VARCHAR[], e.event_type)
),

first_orders AS MATERIALIZED (
    -- the user's first order ever (before the period too); empty unless a step needs it
    SELECT user_id, conversion_time AS first_order_time
    FROM first_conversions
    WHERE conversion_type = 'first_order'
      AND list_contains($step_first::BOOLEAN[], true)
),

-- logic CTEs ----------------------------------------------------------------------------
steps AS (
    SELECT
        i AS step,
        ($step_types::VARCHAR[])[i] AS event_type,
        ($step_campaigns::VARCHAR[])[i] AS campaign_id,
        ($step_first::BOOLEAN[])[i] AS first_only
    FROM range(1, len($step_types::VARCHAR[]) + 1) AS r(i)
),

entry_times AS (
    -- the instant of each user's first step-1 event in the period
    SELECT e.user_id, min(e.event_time) AS entry_time
    FROM step_events AS e
    JOIN steps AS s
        ON s.step = 1
        AND e.event_type = s.event_type
        AND (s.campaign_id IS NULL OR e.campaign_id = s.campaign_id)
    LEFT JOIN first_orders AS f
        ON s.first_only AND f.user_id = e.user_id
    -- the step-1 type and the period's dates, again as plain filters on the scan
    WHERE e.event_type = ($step_types::VARCHAR[])[1]
      AND e.local_time < CAST($end::DATE + 1 AS TIMESTAMP)
      AND (NOT s.first_only OR e.event_time = f.first_order_time)
    GROUP BY e.user_id
),

numbered AS (
    -- the entrants' events from the entry instant to the end of the window that can serve
    -- a step, one sequence number each (journey order), so that an event serves one step
    SELECT
        e.user_id,
        e.event_time,
        e.event_type,
        e.campaign_id,
        -- the entry's attributes ride along on the entry instant's events only
        CASE WHEN e.event_time = t.entry_time THEN e.channel_group END AS channel_group,
        CASE WHEN e.event_time = t.entry_time THEN e.by_raw END AS by_raw,
        t.entry_time,
        -- a constant when not numbered: the window is planned away, event_id not read
        CASE WHEN $numbered THEN row_number() OVER (
            PARTITION BY e.user_id
            ORDER BY e.event_time, e.event_type, e.campaign_id, e.event_id
        ) ELSE 0 END AS seq
    FROM step_events AS e
    JOIN entry_times AS t ON t.user_id = e.user_id
    WHERE e.event_time >= t.entry_time
      AND epoch_us(e.event_time) - epoch_us(t.entry_time) <= $window_us
      -- an event of no later step's type only matters as the entry itself
      AND (list_contains(($step_types::VARCHAR[])[2:], e.event_type)
           OR e.event_time = t.entry_time)
),

candidates AS MATERIALIZED (
    -- (event, step) pairs; step 1 only at the entry instant, with the entry's attributes
    SELECT
        n.user_id,
        n.event_time,
        n.seq,
        s.step,
        CASE WHEN s.step = 1 THEN n.event_type END AS event_type,
        CASE WHEN s.step = 1 THEN n.channel_group END AS channel_group,
        CASE WHEN s.step = 1 THEN n.by_raw END AS by_raw
    FROM numbered AS n
    JOIN steps AS s
        ON n.event_type = s.event_type
        AND (s.campaign_id IS NULL OR n.campaign_id = s.campaign_id)
    LEFT JOIN first_orders AS f
        ON s.first_only AND f.user_id = n.user_id
    WHERE (NOT s.first_only OR n.event_time = f.first_order_time)
      AND (s.step > 1 OR n.event_time = n.entry_time)
),

entries AS MATERIALIZED (
    -- the entry event: the first step-1 event at the entry instant in journey order
    SELECT user_id, event_time AS entry_time, seq, event_type, channel_group, by_raw
    FROM candidates
    WHERE step = 1
    QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY seq) = 1
),

chain (user_id, step, step_time, seq, entry_time, used, previous_time) AS (
    SELECT user_id, 1, entry_time, seq, entry_time, [seq], CAST(NULL AS TIMESTAMPTZ)
    FROM entries
    UNION ALL
    SELECT
        c.user_id,
        x.step,
        x.event_time,
        x.seq,
        c.entry_time,
        list_append(c.used, x.seq),
        c.step_time
    FROM chain AS c
    JOIN candidates AS x
        ON x.user_id = c.user_id
        AND x.step = c.step + 1
        AND x.event_time >= c.step_time
        AND epoch_us(x.event_time) - epoch_us(c.entry_time) <= $window_us
        AND (NOT $numbered OR NOT list_contains(c.used, x.seq))
    QUALIFY row_number() OVER (PARTITION BY c.user_id ORDER BY x.event_time, x.seq) = 1
)

-- final ---------------------------------------------------------------------------------
SELECT
    CASE $by_mode
        WHEN 'channel' THEN CASE WHEN en.event_type = 'touch' THEN en.channel_group END
        WHEN 'column' THEN en.by_raw
    END AS by_value,
    en.event_type AS entry_type,
    ch.user_id,
    ch.step,
    ch.step_time,
    ch.entry_time,
    (epoch_us(ch.step_time) - epoch_us(ch.previous_time)) / 1e6 AS seconds_from_previous
FROM chain AS ch
JOIN entries AS en ON en.user_id = ch.user_id
