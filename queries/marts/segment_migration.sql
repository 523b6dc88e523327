-- Lifecycle segments of every user on two days, from the same reads of the events (SPEC §6).
--
-- One row per user of $date_to: user_id, from_rank (the segment rank on $date_from, null
-- when not a user yet on that day), to_rank (on $date_to). The rules, windows and per-day
-- facts are those of marts/segments.sql, whose header describes them; each day's facts
-- only see the events up to that day.
--
-- Parameters: $date_from DATE <= $date_to DATE and one per threshold (see
-- campaign_roi.lifecycle.LifecycleThresholds); $user_slices, $user_slice: only the users with
-- hash(user_id) % $user_slices = $user_slice; $activity: where the per-user facts come from
-- (campaign_roi.lifecycle.staged_sources stages the relations):
--   'days'   the events: the activity and the orders up to $date_to, read from the files;
--   'words'  the command's activity words table (intermediate/activity_words.sql, day index
--            0 = session variable activity_words_first_day: a report has it from its KPIs)
--            and the relation lifecycle_conversions (its materialised conversions: each
--            user's first register, every order with value = amount), so that nothing is read
--            from the files again. Each day's last active day is the highest bit up to it;
--            the active-day counts are the bits of each window (macro window_days), at any
--            window length. The per-user facts, and so the segments, are those of 'days'
--            (a test compares both).
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
      AND $activity = 'days'
),

word_days AS (
    -- both days as indexes of the activity words (the words hold the data's days only)
    SELECT
        $date_from::DATE - CAST(getvariable('activity_words_first_day') AS DATE) AS f,
        $date_to::DATE - CAST(getvariable('activity_words_first_day') AS DATE) AS t
    WHERE $activity = 'words'
),

words AS (
    SELECT w.user_id, w.word, w.bits, x.f, x.t
    FROM activity_words AS w
    JOIN word_days AS x ON x.t >= 0 AND w.word <= x.t // 64
    WHERE hash(w.user_id) % CAST($user_slices AS UBIGINT) = CAST($user_slice AS UBIGINT)
),

converted AS (
    -- first registers and orders up to the later day (so register_date is up to it too)
    SELECT conversion_type, user_id, conversion_date, value
    FROM lifecycle_conversions
    WHERE $activity = 'words'
      AND conversion_date <= $date_to::DATE
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
        -- exact_sum: see marts/segments.sql
        exact_sum(CASE WHEN days_ago_from BETWEEN 0 AND $high_value_days - 1 THEN amount END)
            AS order_total_from,
        exact_sum(CASE WHEN days_ago_to < $high_value_days THEN amount END) AS order_total_to
    FROM activity_days
    WHERE event_type = 'order'
    GROUP BY user_id
),

word_facts AS (
    -- 'words': each day's last active day index (the highest bit up to it: 64 minus the
    -- position of the first 1 of the masked word written as 64 bits) and the active days of
    -- each counting window
    SELECT
        user_id,
        max(CASE WHEN f >= 0 AND word <= f // 64 AND bits & day_mask(0, f, word) <> 0
                 THEN 64 * word + 64 - bit_position(
                          '1'::BIT, CAST(CAST(bits & day_mask(0, f, word) AS UBIGINT) AS BIT))
            END) AS last_from_index,
        max(CASE WHEN bits & day_mask(0, t, word) <> 0
                 THEN 64 * word + 64 - bit_position(
                          '1'::BIT, CAST(CAST(bits & day_mask(0, t, word) AS UBIGINT) AS BIT))
            END) AS last_to_index,
        CAST(sum(window_days(bits, word, f - $churn_days + 1, f)) AS BIGINT) AS words_30_from,
        CAST(sum(window_days(bits, word, f - 2 * $churn_days + 1, f - $churn_days)) AS BIGINT)
            AS words_prev_30_from,
        CAST(sum(window_days(bits, word, f - $potential_window_days + 1, f)) AS BIGINT)
            AS words_potential_from,
        CAST(sum(window_days(bits, word, t - $churn_days + 1, t)) AS BIGINT) AS words_30_to,
        CAST(sum(window_days(bits, word, t - 2 * $churn_days + 1, t - $churn_days)) AS BIGINT)
            AS words_prev_30_to,
        CAST(sum(window_days(bits, word, t - $potential_window_days + 1, t)) AS BIGINT)
            AS words_potential_to
    FROM words
    GROUP BY user_id
),

converted_facts AS (
    -- 'words': the first register and the order facts, as order_facts reads them
    SELECT
        user_id,
        min(conversion_date) FILTER (WHERE conversion_type = 'register') AS register_date,
        max(CASE WHEN conversion_type = 'order' AND conversion_date <= $date_from::DATE
                 THEN conversion_date END) AS last_order_from,
        max(conversion_date) FILTER (WHERE conversion_type = 'order') AS last_order_to,
        exact_sum(CASE WHEN conversion_type = 'order'
                            AND $date_from::DATE - conversion_date
                                BETWEEN 0 AND $high_value_days - 1
                       THEN value END) AS order_total_from,
        exact_sum(CASE WHEN conversion_type = 'order'
                            AND $date_to::DATE - conversion_date < $high_value_days
                       THEN value END) AS order_total_to
    FROM converted
    GROUP BY user_id
),

per_user AS MATERIALIZED (
    -- materialized: read twice below, computed once. One branch runs ($activity); the
    -- words_* counts (at any window length) are null from the events
    SELECT
        a.*,
        o.last_order_from,
        o.last_order_to,
        o.order_total_from,
        o.order_total_to,
        CAST(NULL AS BIGINT) AS words_30_from,
        CAST(NULL AS BIGINT) AS words_prev_30_from,
        CAST(NULL AS BIGINT) AS words_potential_from,
        CAST(NULL AS BIGINT) AS words_30_to,
        CAST(NULL AS BIGINT) AS words_prev_30_to,
        CAST(NULL AS BIGINT) AS words_potential_to
    FROM activity_facts AS a
    LEFT JOIN order_facts AS o ON o.user_id = a.user_id
    UNION ALL
    SELECT
        w.user_id,
        c.register_date,
        CAST(getvariable('activity_words_first_day') AS DATE)
            + CAST(w.last_from_index AS INTEGER),
        CAST(getvariable('activity_words_first_day') AS DATE)
            + CAST(w.last_to_index AS INTEGER),
        CAST(NULL AS UBIGINT),
        CAST(NULL AS UBIGINT),
        c.last_order_from,
        c.last_order_to,
        c.order_total_from,
        c.order_total_to,
        w.words_30_from,
        w.words_prev_30_from,
        w.words_potential_from,
        w.words_30_to,
        w.words_prev_30_to,
        w.words_potential_to
    FROM word_facts AS w
    LEFT JOIN converted_facts AS c ON c.user_id = w.user_id
    -- a user of the later day has activity up to it
    WHERE w.last_to_index IS NOT NULL
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
        coalesce(l.active_days_30_from, p.words_30_from) AS long_active_days_30,
        coalesce(l.active_days_prev_30_from, p.words_prev_30_from) AS long_active_days_prev_30,
        coalesce(l.active_days_potential_from, p.words_potential_from)
            AS long_active_days_potential
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
        coalesce(l.active_days_30_to, p.words_30_to),
        coalesce(l.active_days_prev_30_to, p.words_prev_30_to),
        coalesce(l.active_days_potential_to, p.words_potential_to)
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
