-- Lifecycle segments of every user on two days, from the same reads of the events (SPEC §6).
--
-- One row per user of $date_to: user_id, from_rank (the segment rank on $date_from, null
-- when not a user yet on that day), to_rank (on $date_to). The rules, windows and per-day
-- facts are those of marts/segments.sql, whose header describes them; each day's facts
-- only see the events up to that day.
--
-- Parameters: $date_from DATE <= $date_to DATE and one per threshold (see
-- campaign_roi.lifecycle.LifecycleThresholds); $user_slices, $user_slice: only the users with
-- hash(user_id) % $user_slices = $user_slice.
--
-- One aggregate over the activity up to $date_to takes the facts of both days at once
-- (one over the orders alone adds the order facts), the earlier day's from its events up to
-- $date_from only (the first register up to $date_from is the first register up to
-- $date_to when that is not later than $date_from). The users' days are then unpivoted to
-- one row per user and day so that one CASE classifies both. Keep that CASE identical to
-- the one in marts/segments.sql (a test compares them).

WITH

-- import CTEs ---------------------------------------------------------------------------
activity AS (
    -- all activity up to the later day (the bound on local_time lets the Parquet reader
    -- skip row groups; event_date is its date)
    SELECT user_id, event_date, event_type, amount
    FROM events
    WHERE event_type IN ('register', 'active', 'campaign_join', 'order')
      AND local_time < CAST($date_to::DATE + 1 AS TIMESTAMP)
      -- one slice of users (campaign_roi.slices). UBIGINT like hash(): with INTEGER
      -- operands the modulo runs on HUGEINT, which made the scan 3x slower
      AND hash(user_id) % CAST($user_slices AS UBIGINT) = CAST($user_slice AS UBIGINT)
),

-- logic CTEs ----------------------------------------------------------------------------
activity_days AS (
    SELECT
        user_id,
        event_date,
        event_type,
        amount,
        $date_from::DATE - event_date AS days_ago_from,
        $date_to::DATE - event_date AS days_ago_to
    FROM activity
),

activity_facts AS (
    -- conditional aggregates as CASE (null = skipped), as in marts/segments.sql
    SELECT
        user_id,
        min(CASE WHEN event_type = 'register' THEN event_date END) AS register_date,
        max(CASE WHEN days_ago_from >= 0 THEN event_date END) AS last_active_from,
        max(event_date) AS last_active_to,
        -- active days among the last 64 of each day as bits (bit i set = active on day - i)
        bit_or(
            CASE WHEN days_ago_from BETWEEN 0 AND 63
                 THEN CAST(1 AS UBIGINT) << CAST(days_ago_from AS UBIGINT) END
        ) AS day_bits_from,
        bit_or(
            CASE WHEN days_ago_to < 64
                 THEN CAST(1 AS UBIGINT) << CAST(days_ago_to AS UBIGINT) END
        ) AS day_bits_to
    FROM activity_days
    GROUP BY user_id
),

order_facts AS (
    -- the orders read on their own (a filtered scan): folded into activity_facts, these
    -- four aggregates widen every per-user row enough to push that aggregate past a 1 GB
    -- memory limit at scale 1 (it spills), which costs more than the second read
    SELECT
        user_id,
        max(CASE WHEN days_ago_from >= 0 THEN event_date END) AS last_order_from,
        max(event_date) AS last_order_to,
        -- fsum: see marts/segments.sql
        fsum(CASE WHEN days_ago_from BETWEEN 0 AND $high_value_days - 1 THEN amount END)
            AS order_total_from,
        fsum(CASE WHEN days_ago_to < $high_value_days THEN amount END) AS order_total_to
    FROM activity_days
    WHERE event_type = 'order'
    GROUP BY user_id
),

per_user AS MATERIALIZED (
    -- materialized: read twice below, computed once
    SELECT
        a.*,
        o.last_order_from,
        o.last_order_to,
        o.order_total_from,
        o.order_total_to
    FROM activity_facts AS a
    LEFT JOIN order_facts AS o ON o.user_id = a.user_id
),

long_window_days AS (
    -- only when a window is longer than the 64 days of day_bits
    SELECT DISTINCT user_id, days_ago_from, days_ago_to
    FROM activity_days
    WHERE greatest(2 * $churn_days, $potential_window_days) > 64
      AND (days_ago_to < greatest(2 * $churn_days, $potential_window_days)
           OR days_ago_from BETWEEN 0
                                AND greatest(2 * $churn_days, $potential_window_days) - 1)
),

long_windows AS (
    SELECT
        user_id,
        count(*) FILTER (
            WHERE days_ago_from BETWEEN 0 AND $churn_days - 1
        ) AS active_days_30_from,
        count(*) FILTER (
            WHERE days_ago_from BETWEEN $churn_days AND 2 * $churn_days - 1
        ) AS active_days_prev_30_from,
        count(*) FILTER (
            WHERE days_ago_from BETWEEN 0 AND $potential_window_days - 1
        ) AS active_days_potential_from,
        count(*) FILTER (WHERE days_ago_to < $churn_days) AS active_days_30_to,
        count(*) FILTER (
            WHERE days_ago_to >= $churn_days AND days_ago_to < 2 * $churn_days
        ) AS active_days_prev_30_to,
        count(*) FILTER (
            WHERE days_ago_to < $potential_window_days
        ) AS active_days_potential_to
    FROM long_window_days
    GROUP BY user_id
),

user_days AS (
    -- one row per user and day on which they are a user: the earlier day's row only when
    -- they had activity by then
    SELECT
        p.user_id,
        'from' AS day,
        $date_from::DATE AS as_of,
        CASE WHEN p.register_date <= $date_from::DATE THEN p.register_date END
            AS register_date,
        p.last_active_from AS last_active_date,
        p.last_order_from AS last_order_date,
        p.order_total_from AS order_total_30,
        p.day_bits_from AS day_bits,
        l.active_days_30_from AS long_active_days_30,
        l.active_days_prev_30_from AS long_active_days_prev_30,
        l.active_days_potential_from AS long_active_days_potential
    FROM per_user AS p
    LEFT JOIN long_windows AS l ON l.user_id = p.user_id
    WHERE p.last_active_from IS NOT NULL
    UNION ALL
    SELECT
        p.user_id,
        'to' AS day,
        $date_to::DATE AS as_of,
        p.register_date,
        p.last_active_to,
        p.last_order_to,
        p.order_total_to,
        p.day_bits_to,
        l.active_days_30_to,
        l.active_days_prev_30_to,
        l.active_days_potential_to
    FROM per_user AS p
    LEFT JOIN long_windows AS l ON l.user_id = p.user_id
),

per_user_facts AS (
    -- as in marts/segments.sql: a mask of the n low bits is ~0 >> (64 - n)
    SELECT
        user_id,
        day,
        as_of,
        register_date,
        last_active_date,
        last_order_date,
        coalesce(
            CASE WHEN greatest(2 * $churn_days, $potential_window_days) <= 64
                 THEN bit_count(day_bits & (~CAST(0 AS UBIGINT) >> (64 - $churn_days)))
            END,
            long_active_days_30, 0
        ) AS active_days_30,
        coalesce(
            CASE WHEN greatest(2 * $churn_days, $potential_window_days) <= 64
                 THEN bit_count((day_bits >> $churn_days)
                                & (~CAST(0 AS UBIGINT) >> (64 - $churn_days)))
            END,
            long_active_days_prev_30, 0
        ) AS active_days_prev_30,
        coalesce(
            CASE WHEN greatest(2 * $churn_days, $potential_window_days) <= 64
                 THEN bit_count(day_bits & (~CAST(0 AS UBIGINT) >> (64 - $potential_window_days)))
            END,
            long_active_days_potential, 0
        ) AS active_days_potential,
        coalesce(order_total_30, 0) AS order_total_30
    FROM user_days
),

classified AS (
    SELECT
        *,
        CASE
            WHEN register_date > as_of - $new_days
                THEN 1
            WHEN register_date BETWEEN as_of - $silent_new_days AND as_of - $new_days
                 AND last_active_date = register_date
                THEN 2
            WHEN last_active_date <= as_of - $churn_days
                THEN 3
            WHEN last_active_date <= as_of - $warning_days
                 OR (active_days_prev_30 >= $warning_min_prev_days
                     AND active_days_30 < $warning_ratio * active_days_prev_30)
                THEN 4
            WHEN order_total_30 >= $high_value_total
                THEN 5
            WHEN last_order_date > as_of - $payer_days
                THEN 6
            WHEN last_order_date IS NULL
                 AND active_days_potential >= $potential_active_days
                THEN 7
            ELSE 8
        END AS segment_rank
    FROM per_user_facts
)

-- final ---------------------------------------------------------------------------------
SELECT
    user_id,
    min(segment_rank) FILTER (WHERE day = 'from') AS from_rank,
    min(segment_rank) FILTER (WHERE day = 'to') AS to_rank
FROM classified
GROUP BY user_id
