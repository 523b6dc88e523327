-- Cohort retention (SPEC §6): one row per (group, cohort, period) with counts.
--
-- A user's cohort day is the local date of their first register (users.register_date) or
-- first order (users.first_order_date). Period k covers the local days
-- cohort_day + k*w .. cohort_day + k*w + w - 1 (w = 1, 7 or 30). A member is retained in
-- period k when they have any activity event (register, active, campaign_join, order) on
-- one of those days. `complete` is true when every member's period-k window has ended by
-- the data's last day (max(event_date) over all events); the caller turns incomplete
-- cells into NULL.
--
-- Parameters:
--   $cohort_event  VARCHAR  'register' | 'first_order'
--   $w             INTEGER  window length in days (1, 7 or 30)
--   $periods       INTEGER  last period index (periods 0..$periods are returned)
--   $cohort_by     VARCHAR  'month' (label 2025-07) | 'week' (ISO week, label 2025-W27)
--   $start, $end   DATE     optional inclusive bounds on the cohort day (NULL = open)
--   $by_mode       VARCHAR  'none' | 'channel' (users.acquisition_channel)

WITH

-- import CTEs ---------------------------------------------------------------------------
users_src AS (
    SELECT user_id, register_date, first_order_date, acquisition_channel
    FROM users
),

activity AS (
    SELECT user_id, event_date
    FROM events
    WHERE event_type IN ('register', 'active', 'campaign_join', 'order')
),

data_end AS (
    SELECT max(event_date) AS last_day
    FROM events
),

-- logic CTEs ----------------------------------------------------------------------------
members AS (
    SELECT
        user_id,
        cohort_date,
        CASE WHEN $by_mode = 'channel' THEN acquisition_channel END AS by_value,
        CASE $cohort_by
            WHEN 'month' THEN strftime(cohort_date, '%Y-%m')
            ELSE strftime(cohort_date, '%G-W%V')
        END AS cohort
    FROM (
        SELECT
            user_id,
            acquisition_channel,
            CASE $cohort_event
                WHEN 'register' THEN register_date
                ELSE first_order_date
            END AS cohort_date
        FROM users_src
    )
    WHERE cohort_date IS NOT NULL
      AND ($start::DATE IS NULL OR cohort_date >= $start::DATE)
      AND ($end::DATE IS NULL OR cohort_date <= $end::DATE)
),

cohorts AS (
    SELECT by_value, cohort, count(*) AS cohort_size, max(cohort_date) AS last_cohort_date
    FROM members
    GROUP BY by_value, cohort
),

periods AS (
    SELECT CAST(range AS INTEGER) AS period
    FROM range(0, $periods + 1)
),

active_periods AS (
    SELECT DISTINCT
        m.by_value,
        m.cohort,
        m.user_id,
        CAST((a.event_date - m.cohort_date) // $w AS INTEGER) AS period
    FROM members AS m
    JOIN activity AS a ON a.user_id = m.user_id
    WHERE a.event_date >= m.cohort_date
      AND a.event_date < m.cohort_date + ($periods + 1) * $w
),

retained AS (
    SELECT by_value, cohort, period, count(*) AS retained
    FROM active_periods
    GROUP BY by_value, cohort, period
)

-- final ---------------------------------------------------------------------------------
SELECT
    c.by_value,
    c.cohort,
    c.cohort_size,
    p.period,
    coalesce(r.retained, 0) AS retained,
    coalesce(
        c.last_cohort_date + (p.period * $w + $w - 1) <= (SELECT last_day FROM data_end),
        false
    ) AS complete
FROM cohorts AS c
CROSS JOIN periods AS p
LEFT JOIN retained AS r
    ON r.by_value IS NOT DISTINCT FROM c.by_value
    AND r.cohort = c.cohort
    AND r.period = p.period
