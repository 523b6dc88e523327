-- Cohort retention (SPEC §6): one row per (group, cohort, period) with counts.
--
-- A user's cohort day is the local date of their first register or first order ever.
-- Period k covers the local days cohort_day + k*w .. cohort_day + k*w + w - 1
-- (w = 1, 7 or 30). A member is retained in period k when they have any activity event
-- (register, active, campaign_join, order) on one of those days. `complete` is true when
-- every member's period-k window has ended by the data's last day (max(event_date) over
-- all events); the caller turns incomplete cells into NULL.
--
-- Reads `events` and three temp relations staged by campaign_roi/retention.py for the query:
--   first_conversions   (conversion_type 'register' | 'first_order', user_id,
--                        conversion_time, conversion_date): each user's first register and
--                        first order ever, a view over the materialised `conversions` table
--                        when there is one, else a table computed from `events`;
--   member_acquisition  (user_id, acquisition_channel): the acquisition channel of the
--                        registrants (only read when $by_mode = 'channel');
--   activity_days       (user_id, local_time, event_date): the activity events (register,
--                        active, campaign_join, order), read when $activity = 'days';
--   activity_words      the command's activity words table (intermediate/activity_words.sql,
--                        day index 0 = session variable activity_words_first_day), read when
--                        $activity = 'words' (an empty view otherwise).
-- From the events, activity is read only for the local days a cohort window can cover (a
-- range on local_time, so that files outside it are skipped) and only for periods k >= 1.
-- From the words, each (member, period k >= 1) window is tested against the member's one or
-- two words that hold it (macro day_mask, campaign_roi.kpis): the same (member, period)
-- pairs, without unpacking tens of millions of days.
--
-- Parameters:
--   $cohort_event  VARCHAR  'register' | 'first_order'
--   $w             INTEGER  window length in days (1, 7 or 30)
--   $periods       INTEGER  last period index (periods 0..$periods are returned)
--   $cohort_by     VARCHAR  'month' (label 2025-07) | 'week' (ISO week, label 2025-W27)
--   $start, $end   DATE     optional inclusive bounds on the cohort day (NULL = open)
--   $by_mode       VARCHAR  'none' | 'channel' (member_acquisition.acquisition_channel)
--   $activity      VARCHAR  'days' (activity_days) | 'words' (activity_words)
--   $user_slices, $user_slice  INTEGER  only the members with hash(user_id) % $user_slices =
--                  $user_slice (large data runs the query once per slice and adds up the counts,
--                  campaign_roi/retention.py: a member's rows depend on that member only)

WITH

-- import CTEs ---------------------------------------------------------------------------
cohort_days AS (
    SELECT user_id, conversion_date AS cohort_date
    FROM first_conversions
    WHERE conversion_type = $cohort_event
      AND ($start::DATE IS NULL OR conversion_date >= $start::DATE)
      AND ($end::DATE IS NULL OR conversion_date <= $end::DATE)
      -- one slice of members (campaign_roi.slices); with one slice the condition is
      -- constant and planned away
      AND ($user_slices = 1
           OR hash(user_id) % CAST($user_slices AS UBIGINT) = CAST($user_slice AS UBIGINT))
),

acquired AS (
    SELECT user_id, acquisition_channel
    FROM member_acquisition
    WHERE $by_mode = 'channel'
),

activity AS (
    SELECT user_id, event_date
    FROM activity_days
    WHERE $activity = 'days'
      AND ($start::DATE IS NULL OR local_time >= CAST($start::DATE + $w AS TIMESTAMP))
      AND ($end::DATE IS NULL
           OR local_time < CAST($end::DATE + ($periods + 1) * $w AS TIMESTAMP))
      AND ($user_slices = 1
           OR hash(user_id) % CAST($user_slices AS UBIGINT) = CAST($user_slice AS UBIGINT))
),

data_end AS (
    -- the data's last day is on or after the latest cohort day (the cohort event is an
    -- event): only the files and row groups from the day before it on are read
    SELECT max(e.event_date) AS last_day
    FROM events AS e
    JOIN (SELECT CAST(max(cohort_date) - 1 AS TIMESTAMP) AS since FROM cohort_days) AS b
        ON e.local_time >= b.since
),

-- logic CTEs ----------------------------------------------------------------------------
members AS (
    SELECT
        c.user_id,
        c.cohort_date,
        a.acquisition_channel AS by_value,
        CASE $cohort_by
            WHEN 'month' THEN strftime(c.cohort_date, '%Y-%m')
            ELSE strftime(c.cohort_date, '%G-W%V')
        END AS cohort
    FROM cohort_days AS c
    LEFT JOIN acquired AS a ON a.user_id = c.user_id
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

member_spans AS (
    -- from the words: each member's windows k = 1..$periods lie in the day indexes a1 ..
    -- a1 + $periods * $w - 1 (a1 = the first day of period 1); the words holding them, one
    -- row per (member, word): fewer lookups than one per (member, period, word)
    SELECT user_id, a1, unnest(range(a1 // 64, (a1 + $periods * $w - 1) // 64 + 1)) AS word
    FROM (
        SELECT
            user_id,
            cohort_date - CAST(getvariable('activity_words_first_day') AS DATE) + $w AS a1
        FROM members
        WHERE $activity = 'words' AND $periods >= 1
    )
),

word_periods AS (
    -- the windows with an active day: period k's days [a, b] = a1 + (k - 1) * $w .. + $w - 1,
    -- tested on each of the member's words that holds some of them, masked to [a, b]
    SELECT DISTINCT x.user_id, k.period
    FROM member_spans AS x
    JOIN activity_words AS w ON w.user_id = x.user_id AND w.word = x.word
    JOIN (SELECT CAST(range AS INTEGER) AS period FROM range(1, $periods + 1)) AS k
      ON x.word BETWEEN (x.a1 + (k.period - 1) * $w) // 64 AND (x.a1 + k.period * $w - 1) // 64
    WHERE w.bits & day_mask(x.a1 + (k.period - 1) * $w, x.a1 + k.period * $w - 1, x.word) <> 0
),

active_periods AS (
    -- (member, period k >= 1) with at least one activity day in the period's window.
    -- Period 0 needs no lookup: it holds the cohort event itself (a register or an order
    -- on the cohort day is activity), so every member is retained in it.
    SELECT DISTINCT
        m.user_id,
        CAST((a.event_date - m.cohort_date) // $w AS INTEGER) AS period
    FROM activity AS a
    JOIN members AS m ON m.user_id = a.user_id
    WHERE a.event_date >= m.cohort_date + $w
      AND a.event_date < m.cohort_date + ($periods + 1) * $w
    UNION ALL
    SELECT * FROM word_periods
),

retained AS (
    SELECT m.by_value, m.cohort, ap.period, count(*) AS retained
    FROM active_periods AS ap
    JOIN members AS m ON m.user_id = ap.user_id
    GROUP BY m.by_value, m.cohort, ap.period
    UNION ALL
    SELECT by_value, cohort, 0, cohort_size
    FROM cohorts
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
