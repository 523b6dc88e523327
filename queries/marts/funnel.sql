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
-- Parameters:
--   $step_types      VARCHAR[]  event type of each step, in order
--   $step_campaigns  VARCHAR[]  campaign_id the step requires (NULL = any campaign)
--   $step_first      BOOLEAN[]  true = only the user's first-ever order matches (first_order)
--   $start, $end     DATE       inclusive local dates of the entry period
--   $scan_end        DATE       last local date a later step can fall on (end + window, rounded up)
--   $window_us       BIGINT     window length in microseconds
--   $by_mode         VARCHAR    'none' | 'channel' | 'column'
--   $by_column       VARCHAR    events column read from the entry event when $by_mode = 'column'
--                               (always a real column name, validated by the caller)

WITH RECURSIVE

-- import CTEs ---------------------------------------------------------------------------
step_events AS (
    SELECT *
    FROM events
    WHERE event_date BETWEEN $start AND $scan_end
      AND list_contains($step_types::VARCHAR[], event_type)
),

acquisition AS (
    SELECT user_id, acquisition_channel
    FROM users
),

first_orders AS (
    -- the user's first order ever (before the period too); only scanned when a step needs it
    SELECT user_id, min(event_time) AS first_order_time
    FROM events
    WHERE event_type = 'order'
      AND list_contains($step_first::BOOLEAN[], true)
    GROUP BY user_id
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

numbered AS (
    -- one sequence number per event and user, so that an event can serve one step only
    SELECT
        e.user_id,
        e.event_time,
        e.event_date,
        e.event_type,
        e.campaign_id,
        e.channel_group,
        CASE
            WHEN $by_mode = 'column'
                AND e.event_date <= $end
                AND e.event_type = ($step_types::VARCHAR[])[1]
            THEN CAST(struct_extract(e, $by_column) AS VARCHAR)
        END AS by_raw,
        row_number() OVER (
            PARTITION BY e.user_id
            ORDER BY e.event_time, e.event_type, e.campaign_id, e.event_id
        ) AS seq
    FROM step_events AS e
),

candidates AS MATERIALIZED (
    SELECT n.user_id, n.event_time, n.seq, s.step
    FROM numbered AS n
    JOIN steps AS s
        ON n.event_type = s.event_type
        AND (s.campaign_id IS NULL OR n.campaign_id = s.campaign_id)
    LEFT JOIN first_orders AS f
        ON s.first_only AND f.user_id = n.user_id
    WHERE (NOT s.first_only OR n.event_time = f.first_order_time)
      AND (s.step > 1 OR n.event_date <= $end)
),

entries AS MATERIALIZED (
    SELECT c.user_id, c.event_time AS entry_time, c.seq, n.event_type, n.channel_group, n.by_raw
    FROM candidates AS c
    JOIN numbered AS n ON n.user_id = c.user_id AND n.seq = c.seq
    WHERE c.step = 1
    QUALIFY row_number() OVER (PARTITION BY c.user_id ORDER BY c.event_time, c.seq) = 1
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
        AND NOT list_contains(c.used, x.seq)
    QUALIFY row_number() OVER (PARTITION BY c.user_id ORDER BY x.event_time, x.seq) = 1
)

-- final ---------------------------------------------------------------------------------
SELECT
    CASE $by_mode
        WHEN 'channel' THEN
            CASE WHEN en.event_type = 'touch' THEN en.channel_group ELSE a.acquisition_channel END
        WHEN 'column' THEN en.by_raw
    END AS by_value,
    ch.user_id,
    ch.step,
    ch.step_time,
    ch.entry_time,
    (epoch_us(ch.step_time) - epoch_us(ch.previous_time)) / 1e6 AS seconds_from_previous
FROM chain AS ch
JOIN entries AS en ON en.user_id = ch.user_id
LEFT JOIN acquisition AS a ON a.user_id = ch.user_id
