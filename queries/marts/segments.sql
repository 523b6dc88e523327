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
-- Parameters: $as_of DATE and one per threshold (see campaign_roi.lifecycle.LifecycleThresholds).

WITH

-- import CTEs ---------------------------------------------------------------------------
history_events AS (
    -- all activity up to D: only cheap per-user min/max are taken over it
    SELECT user_id, event_date, event_type
    FROM events
    WHERE event_type IN ('register', 'active', 'campaign_join', 'order')
      AND event_date <= $as_of::DATE
),

recent_events AS (
    -- activity inside the longest counting window ending on D
    SELECT user_id, event_date, event_type, amount
    FROM events
    WHERE event_type IN ('register', 'active', 'campaign_join', 'order')
      AND event_date <= $as_of::DATE
      AND event_date > $as_of::DATE
          - greatest(2 * $churn_days, $potential_window_days, $high_value_days)
),

-- logic CTEs ----------------------------------------------------------------------------
history AS (
    SELECT
        user_id,
        min(event_date) FILTER (WHERE event_type = 'register') AS register_date,
        max(event_date) AS last_active_date,
        max(event_date) FILTER (WHERE event_type = 'order') AS last_order_date
    FROM history_events
    GROUP BY user_id
),

recent_days AS (
    -- one row per user and active day in the counting windows
    SELECT
        user_id,
        event_date,
        CAST(sum(amount) FILTER (WHERE event_type = 'order') AS DOUBLE) AS order_amount
    FROM recent_events
    GROUP BY user_id, event_date
),

recent AS (
    SELECT
        user_id,
        count(*) FILTER (
            WHERE event_date > $as_of::DATE - $churn_days
        ) AS active_days_30,
        count(*) FILTER (
            WHERE event_date <= $as_of::DATE - $churn_days
              AND event_date > $as_of::DATE - 2 * $churn_days
        ) AS active_days_prev_30,
        count(*) FILTER (
            WHERE event_date > $as_of::DATE - $potential_window_days
        ) AS active_days_potential,
        sum(order_amount) FILTER (
            WHERE event_date > $as_of::DATE - $high_value_days
        ) AS order_total_30
    FROM recent_days
    GROUP BY user_id
),

per_user AS (
    SELECT
        h.user_id,
        h.register_date,
        h.last_active_date,
        h.last_order_date,
        coalesce(r.active_days_30, 0) AS active_days_30,
        coalesce(r.active_days_prev_30, 0) AS active_days_prev_30,
        coalesce(r.active_days_potential, 0) AS active_days_potential,
        coalesce(r.order_total_30, 0) AS order_total_30
    FROM history AS h
    LEFT JOIN recent AS r ON r.user_id = h.user_id
),

classified AS (
    SELECT
        *,
        CASE
            WHEN register_date > $as_of::DATE - $new_days
                THEN 1
            WHEN register_date BETWEEN $as_of::DATE - $silent_new_days
                                   AND $as_of::DATE - $new_days
                 AND last_active_date = register_date
                THEN 2
            WHEN last_active_date <= $as_of::DATE - $churn_days
                THEN 3
            WHEN last_active_date <= $as_of::DATE - $warning_days
                 OR (active_days_prev_30 >= $warning_min_prev_days
                     AND active_days_30 < $warning_ratio * active_days_prev_30)
                THEN 4
            WHEN order_total_30 >= $high_value_total
                THEN 5
            WHEN last_order_date > $as_of::DATE - $payer_days
                THEN 6
            WHEN last_order_date IS NULL
                 AND active_days_potential >= $potential_active_days
                THEN 7
            ELSE 8
        END AS segment_rank
    FROM per_user
)

-- final ---------------------------------------------------------------------------------
SELECT
    user_id,
    segment_rank,
    register_date,
    last_active_date,
    active_days_30,
    active_days_prev_30,
    CAST(order_total_30 AS DOUBLE) AS order_total_30,
    last_order_date
FROM classified
