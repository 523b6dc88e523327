-- Lifecycle segments as of day D (SPEC §6): one row per user with the first matching rule.
--
-- Users: ids with an activity event (register, active, campaign_join, order) on or before D;
-- events after D are ignored, activity on D counts. Windows are inclusive local dates:
-- "the last N days" = D-N+1 .. D. Rules, first match wins:
--   1 new             register_date in D-(new_days-1) .. D
--   2 silent_new      register_date in D-silent_new_days .. D-new_days, and no activity
--                     on any day after the registration day
--   3 churned         no activity in the last churn_days days
--   4 churn_warning   no activity in the last warning_days days, or
--                     active_days_30 < warning_ratio * active_days_prev_30 when
--                     active_days_prev_30 >= warning_min_prev_days
--                     (active_days_30 = active days in the last churn_days days,
--                      active_days_prev_30 = in the churn_days days before those)
--   5 high_value      order amounts in the last high_value_days days >= high_value_total
--   6 payer           an order in the last payer_days days
--   7 potential_payer no order up to D, active on >= potential_active_days distinct days of
--                     the last potential_window_days days
--   8 active          everyone else
--
-- Parameters: $as_of DATE and one per threshold (see campaign_roi.lifecycle.LifecycleThresholds);
-- $user_slices, $user_slice: only the users with hash(user_id) % $user_slices = $user_slice.
--
-- One pass over the activity up to D with one aggregate row per user (first register,
-- last activity, and the user's active days among the last 64 days as the bits of one
-- integer, bit i set = active on D-i, from which the three active-day counts are read), and
-- one filtered pass over the orders alone (last order date, order total of the high-value
-- window). When a counting window reaches further back than 64 days (2 * churn_days or
-- potential_window_days over 64), the counts come from distinct (user, day) rows instead
-- (long_window_* CTEs; planned away otherwise). marts/segment_migration.sql classifies two
-- days at once the same way: keep the `classified` CASE of both files identical (a test
-- compares them).

WITH

-- import CTEs ---------------------------------------------------------------------------
activity AS (
    -- all activity up to D. The bound is on local_time (event_date is its date), which the
    -- Parquet reader can check against row-group statistics.
    SELECT user_id, event_date, event_type, amount
    FROM events
    WHERE event_type IN ('register', 'active', 'campaign_join', 'order')
      AND local_time < CAST($as_of::DATE + 1 AS TIMESTAMP)
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
        $as_of::DATE - event_date AS days_ago
    FROM activity
),

activity_facts AS (
    -- conditional aggregates as CASE (null = skipped) rather than FILTER, which slices the
    -- input once per filter: cheaper over every activity row of the data
    SELECT
        user_id,
        min(CASE WHEN event_type = 'register' THEN event_date END) AS register_date,
        max(event_date) AS last_active_date,
        bit_or(
            CASE WHEN days_ago < 64 THEN CAST(1 AS UBIGINT) << CAST(days_ago AS UBIGINT) END
        ) AS day_bits
    FROM activity_days
    GROUP BY user_id
),

order_facts AS (
    -- the orders on their own (a filtered read): their states kept out of activity_facts
    -- keep its per-user rows narrow, and in memory at scale (see segment_migration.sql)
    SELECT
        user_id,
        max(event_date) AS last_order_date,
        -- exact_sum (campaign_roi.dataset.EXACT_SUM_MACRO): the same total to the last bit
        -- whatever the order the rows arrive in
        exact_sum(CASE WHEN days_ago < $high_value_days THEN amount END) AS order_total_30
    FROM activity_days
    WHERE event_type = 'order'
    GROUP BY user_id
),

per_user AS (
    SELECT
        a.*,
        o.last_order_date,
        o.order_total_30
    FROM activity_facts AS a
    LEFT JOIN order_facts AS o ON o.user_id = a.user_id
),

long_window_days AS (
    -- only when a window is longer than the 64 days of day_bits
    SELECT DISTINCT user_id, days_ago
    FROM activity_days
    WHERE greatest(2 * $churn_days, $potential_window_days) > 64
      AND days_ago < greatest(2 * $churn_days, $potential_window_days)
),

long_windows AS (
    SELECT
        user_id,
        count(*) FILTER (WHERE days_ago < $churn_days) AS active_days_30,
        count(*) FILTER (
            WHERE days_ago >= $churn_days AND days_ago < 2 * $churn_days
        ) AS active_days_prev_30,
        count(*) FILTER (WHERE days_ago < $potential_window_days) AS active_days_potential
    FROM long_window_days
    GROUP BY user_id
),

per_user_facts AS (
    -- a mask of the n low bits is ~0 >> (64 - n); bit i of day_bits is day D-i
    SELECT
        p.user_id,
        $as_of::DATE AS as_of,
        p.register_date,
        p.last_active_date,
        p.last_order_date,
        coalesce(
            CASE WHEN greatest(2 * $churn_days, $potential_window_days) <= 64
                 THEN bit_count(p.day_bits & (~CAST(0 AS UBIGINT) >> (64 - $churn_days)))
            END,
            l.active_days_30, 0
        ) AS active_days_30,
        coalesce(
            CASE WHEN greatest(2 * $churn_days, $potential_window_days) <= 64
                 THEN bit_count((p.day_bits >> $churn_days)
                                & (~CAST(0 AS UBIGINT) >> (64 - $churn_days)))
            END,
            l.active_days_prev_30, 0
        ) AS active_days_prev_30,
        coalesce(
            CASE WHEN greatest(2 * $churn_days, $potential_window_days) <= 64
                 THEN bit_count(p.day_bits & (~CAST(0 AS UBIGINT) >> (64 - $potential_window_days)))
            END,
            l.active_days_potential, 0
        ) AS active_days_potential,
        coalesce(p.order_total_30, 0) AS order_total_30
    FROM per_user AS p
    LEFT JOIN long_windows AS l ON l.user_id = p.user_id
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
    segment_rank,
    register_date,
    last_active_date,
    CAST(active_days_30 AS BIGINT) AS active_days_30,
    CAST(active_days_prev_30 AS BIGINT) AS active_days_prev_30,
    CAST(order_total_30 AS DOUBLE) AS order_total_30,
    last_order_date
FROM classified
