-- Lifecycle segments of every user on two days (SPEC §6), as marts/segment_migration.sql,
-- from a command's compact tables instead of the event log: the activity days packed as
-- bits (temp table activity_words, intermediate/activity_words.sql, day index 0 = the
-- session variable activity_words_first_day) and the materialised conversions (first
-- register, every order). A report has both after its KPIs, so its segments and migration
-- cost no read of the files.
--
-- Same output (user_id, from_rank, to_rank), same rules and windows (marts/segments.sql):
--   - the users of a day D are those with an activity day up to D;
--   - register_date is the first register when it is on or before D;
--   - last_active_date is the highest activity day up to D;
--   - the active-day counts of a window [a, b] of day indexes are the set bits of
--     the user's words within the window (any length: a window may span several words);
--   - last_order_date and order_total_30 come from the orders up to D.
-- Keep the `classified` CASE identical to marts/segments.sql (a test compares them).
--
-- Parameters: $date_from DATE <= $date_to DATE and one per threshold (see
-- campaign_roi.lifecycle.LifecycleThresholds); $user_slices, $user_slice: only the users with
-- hash(user_id) % $user_slices = $user_slice.

WITH

-- import CTEs ---------------------------------------------------------------------------
bounds AS (
    SELECT
        $date_from::DATE - getvariable('activity_words_first_day') AS i_from,
        $date_to::DATE - getvariable('activity_words_first_day') AS i_to
),

words AS (
    SELECT w.user_id, w.word, w.bits
    FROM activity_words AS w
    WHERE w.word * 64 <= (SELECT i_to FROM bounds)
      -- one slice of users (campaign_roi.slices: every user when $user_slices = 1)
      AND hash(w.user_id) % $user_slices = $user_slice
),

first_register AS (
    SELECT user_id, conversion_date AS register_date
    FROM conversions
    WHERE conversion_type = 'register'
),

orders_ AS (
    SELECT user_id, conversion_date AS order_date, value AS amount
    FROM conversions
    WHERE conversion_type = 'order'
      AND conversion_date <= $date_to::DATE
),

-- logic CTEs ----------------------------------------------------------------------------
days AS (
    -- the two days: D, its day index i and its date
    SELECT 'from' AS day, $date_from::DATE AS as_of, i_from AS i FROM bounds
    UNION ALL
    SELECT 'to', $date_to::DATE, i_to FROM bounds
),

windows AS (
    -- the counting windows of each day as day indexes [a, b]; 'upto' = every day up to D
    SELECT day, kind, a, b
    FROM (
        SELECT day, 'upto' AS kind, 0 AS a, i AS b FROM days
        UNION ALL
        SELECT day, 'd30', i - $churn_days + 1, i FROM days
        UNION ALL
        SELECT day, 'prev30', i - 2 * $churn_days + 1, i - $churn_days FROM days
        UNION ALL
        SELECT day, 'potential', i - $potential_window_days + 1, i FROM days
    )
    WHERE b >= 0
),

window_bits AS (
    -- each word's bits within each window it overlaps: bits lo..hi of word w are the days
    -- 64w + lo .. 64w + hi (a mask of n bits from lo is (~0 >> (64 - n)) << lo)
    SELECT
        w.user_id,
        x.day,
        x.kind,
        w.word,
        w.bits & ((~CAST(0 AS UBIGINT) >> (63 - (least(x.b - 64 * w.word, 63)
                                               - greatest(x.a - 64 * w.word, 0))))
                  << greatest(x.a - 64 * w.word, 0)) AS bits
    FROM words AS w
    JOIN windows AS x
      ON 64 * w.word <= x.b AND 64 * w.word + 63 >= greatest(x.a, 0)
),

window_counts AS (
    SELECT
        user_id,
        day,
        sum(bit_count(bits)) FILTER (WHERE kind = 'upto') AS active_days_upto,
        coalesce(sum(bit_count(bits)) FILTER (WHERE kind = 'd30'), 0) AS active_days_30,
        coalesce(sum(bit_count(bits)) FILTER (WHERE kind = 'prev30'), 0) AS active_days_prev_30,
        coalesce(sum(bit_count(bits)) FILTER (WHERE kind = 'potential'), 0)
            AS active_days_potential,
        -- the last word with an activity day up to D, and those days
        max(word) FILTER (WHERE kind = 'upto' AND bits <> 0) AS last_word,
        arg_max(bits, word) FILTER (WHERE kind = 'upto' AND bits <> 0) AS last_bits
    FROM window_bits
    GROUP BY user_id, day
),

last_active AS (
    -- the highest set bit of last_bits: smear it into every lower bit, then count them
    SELECT
        *,
        last_bits | (last_bits >> 1) AS s1
    FROM window_counts
    WHERE active_days_upto > 0
),

smeared AS (
    SELECT *, s4 | (s4 >> 8) AS s8
    FROM (SELECT *, s2 | (s2 >> 4) AS s4
          FROM (SELECT *, s1 | (s1 >> 2) AS s2 FROM last_active))
),

order_facts AS (
    SELECT
        d.day,
        o.user_id,
        max(o.order_date) AS last_order_date,
        -- fsum: see marts/segments.sql
        fsum(CASE WHEN d.as_of - o.order_date < $high_value_days THEN o.amount END)
            AS order_total_30
    FROM orders_ AS o
    JOIN days AS d ON o.order_date <= d.as_of
    GROUP BY d.day, o.user_id
),

per_user_facts AS (
    SELECT
        s.user_id,
        s.day,
        d.as_of,
        CASE WHEN r.register_date <= d.as_of THEN r.register_date END AS register_date,
        getvariable('activity_words_first_day')
            + CAST(64 * s.last_word + bit_count(s16 | (s16 >> 32)) - 1 AS INTEGER)
            AS last_active_date,
        o.last_order_date,
        s.active_days_30,
        s.active_days_prev_30,
        s.active_days_potential,
        coalesce(o.order_total_30, 0) AS order_total_30
    FROM (SELECT *, s8 | (s8 >> 16) AS s16 FROM smeared) AS s
    JOIN days AS d ON d.day = s.day
    LEFT JOIN first_register AS r ON r.user_id = s.user_id
    LEFT JOIN order_facts AS o ON o.user_id = s.user_id AND o.day = s.day
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
