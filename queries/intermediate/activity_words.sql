-- Activity days packed as bits (SPEC §5 active users, DAU, M1/M3/high-value retention):
-- one row per (user, word) with bit j of `bits` set when the user has an activity event
-- (register, active, campaign_join, order) on local day $first_day + 64 * word + j.
-- It holds exactly the distinct (user, active day) pairs — sum(bit_count(bits)) is their
-- number — in about one row per user and 64 days, so the KPI queries test "active on some
-- day in [a, b]" with a mask instead of grouping tens of millions of (user, day) rows.
-- Params: $first_day (the data's first local day: day index 0); $from_day, $to_day: only the
-- day indexes from_day .. to_day - 1 (local days first_day + from_day .. before
-- first_day + to_day), written on local_time so that other files are not read;
-- $user_slices, $user_slice: only the users with hash(user_id) % $user_slices = $user_slice.
-- Large data is grouped slice by slice (campaign_roi.kpis.activity_slices and
-- activity_user_slices), each slice's days within its own 64-day words; the slices partition
-- the (user, word) groups, so the rows of all slices are exactly the pairs of one grouping.
-- A summary packs only the days its KPIs read (campaign_roi.kpis.kpi_activity_days).
WITH
activity AS (
    SELECT user_id, event_date - $first_day::DATE AS day_index
    FROM events
    WHERE event_type IN ('register', 'active', 'campaign_join', 'order')
      AND local_time >= CAST($first_day::DATE + $from_day AS TIMESTAMP)
      AND local_time < CAST($first_day::DATE + $to_day AS TIMESTAMP)
      -- one slice of users when a word range holds too many (campaign_roi.kpis
      -- .activity_user_slices); with one slice the condition is constant and planned away
      AND ($user_slices = 1
           OR hash(user_id) % CAST($user_slices AS UBIGINT) = CAST($user_slice AS UBIGINT))
)

SELECT
    user_id,
    day_index // 64 AS word,
    -- UBIGINT shift amount: with a BIGINT one the bits would be HUGEINT (twice as wide)
    bit_or(CAST(1 AS UBIGINT) << CAST(day_index % 64 AS UBIGINT)) AS bits
FROM activity
GROUP BY user_id, day_index // 64
