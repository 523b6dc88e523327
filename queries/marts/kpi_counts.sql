-- KPI counts and sums per period (SPEC §5). Reads the temp tables kpi_periods(period,
-- start_date, end_date) and activity_words (intermediate/activity_words.sql: the distinct
-- (user, active day) pairs packed as bits, day index 0 = $first_day), and the campaign
-- results (temp table campaign_results). New users and payers come from the conversions
-- (first register, first order), not from the users view, so the acquisition of only the
-- periods' registrants is computed. Ratios are computed in the Polars layer.
--
-- "Active on some day in [a, b]" (day indexes) is tested word by word: the words a // 64 ..
-- b // 64 of the user are read and bits lo..hi of word w are kept with the mask
-- day_mask(a, b, w) = (~0 >> (63 - (hi - lo))) << lo, where lo = max(a - 64w, 0) and
-- hi = min(b - 64w, 63) (the macro campaign_roi.kpis.DAY_MASK_MACRO).
-- Params: $first_day, $last_day (the data's), $paid, $passive (group lists),
-- $high_value_total.
WITH
periods AS (
    SELECT period, start_date, end_date
    FROM kpi_periods
),

first_register AS (
    SELECT user_id, conversion_date AS register_date, referrer_id
    FROM conversions
    WHERE conversion_type = 'register'
),

first_order AS (
    SELECT user_id, conversion_date AS first_order_date
    FROM conversions
    WHERE conversion_type = 'first_order'
),

orders_ AS (
    -- every order (conversions of type order: value = amount)
    SELECT user_id, conversion_date AS order_date, value AS amount
    FROM conversions
    WHERE conversion_type = 'order'
),

acquired AS (
    -- the periods' registrants' acquisition (Dataset.period_acquisition)
    SELECT user_id, acquisition_channel
    FROM period_acquisition
),

days AS (
    -- the period's days that lie within the data (days without activity count as 0)
    SELECT period, day, day - $first_day::DATE AS day_index
    FROM (
        SELECT period, CAST(unnest(generate_series(
            greatest(start_date, $first_day), least(end_date, $last_day), INTERVAL 1 DAY
        )) AS DATE) AS day
        FROM periods
    )
),

period_words AS NOT MATERIALIZED (
    -- the words that hold a period day; read once per byte below, each read a scan of the
    -- in-memory words (materialised, it held 50 M rows at 10x scale 1 and ran out of memory)
    SELECT w.word, w.bits
    FROM activity_words AS w
    JOIN (SELECT DISTINCT day_index // 64 AS word FROM days) AS dw ON dw.word = w.word
),

word_bytes AS (
    -- each word cut into its 8 bytes: byte k holds the days 64 * word + 8k .. 64 * word + 8k + 7
    SELECT word, 0 AS k, bits & 255 AS pattern FROM period_words
    UNION ALL SELECT word, 1, (bits >> 8) & 255 FROM period_words
    UNION ALL SELECT word, 2, (bits >> 16) & 255 FROM period_words
    UNION ALL SELECT word, 3, (bits >> 24) & 255 FROM period_words
    UNION ALL SELECT word, 4, (bits >> 32) & 255 FROM period_words
    UNION ALL SELECT word, 5, (bits >> 40) & 255 FROM period_words
    UNION ALL SELECT word, 6, (bits >> 48) & 255 FROM period_words
    UNION ALL SELECT word, 7, (bits >> 56) & 255 FROM period_words
),

daily_active AS (
    -- the users active on each day: per word and byte, how many users have each pattern of
    -- those 8 days (at most 256 groups: no per-user rows), then each pattern's users count on
    -- each of its days (bit j of byte k is day 64 * word + 8k + j)
    SELECT b.word * 64 + b.k * 8 + j.j AS day_index, sum(b.users) AS dau
    FROM (SELECT word, k, pattern, count(*) AS users FROM word_bytes GROUP BY ALL) AS b
    JOIN range(8) AS j(j) ON (b.pattern >> CAST(j.j AS UBIGINT)) & CAST(1 AS UBIGINT) = 1
    GROUP BY ALL
),

dau AS (
    SELECT d.period, max(coalesce(a.dau, 0)) AS dau_peak, avg(coalesce(a.dau, 0)) AS dau_avg
    FROM days AS d
    LEFT JOIN daily_active AS a ON a.day_index = d.day_index
    GROUP BY d.period
),

period_spans AS (
    -- each period's day indexes within the data
    SELECT period, min(day_index) AS a, max(day_index) AS b
    FROM days
    GROUP BY period
),

active AS (
    SELECT s.period, count(DISTINCT w.user_id) AS active_users
    FROM (
        SELECT period, a, b, unnest(range(a // 64, b // 64 + 1)) AS word FROM period_spans
    ) AS s
    JOIN activity_words AS w ON w.word = s.word
    WHERE w.bits & day_mask(s.a, s.b, s.word) <> 0
    GROUP BY s.period
),

registered AS (
    SELECT
        p.period,
        count(*) AS new_users,
        count(*) FILTER (WHERE list_contains($paid, a.acquisition_channel)) AS paid_new_users,
        count(*) FILTER (WHERE list_contains($passive, a.acquisition_channel)) AS passive_new_users
    FROM periods AS p
    JOIN first_register AS u ON u.register_date BETWEEN p.start_date AND p.end_date
    LEFT JOIN acquired AS a USING (user_id)
    GROUP BY p.period
),

first_payers AS (
    SELECT p.period, count(*) AS new_payers
    FROM periods AS p
    JOIN first_order AS u ON u.first_order_date BETWEEN p.start_date AND p.end_date
    GROUP BY p.period
),

paying AS (
    SELECT p.period, count(DISTINCT o.user_id) AS payers, exact_sum(o.amount) AS gmv
    FROM periods AS p
    JOIN orders_ AS o ON o.order_date BETWEEN p.start_date AND p.end_date
    GROUP BY p.period
),

refunding AS (
    SELECT p.period, exact_sum(e.amount) AS refunds
    FROM periods AS p
    JOIN refund_events AS e ON e.event_date BETWEEN p.start_date AND p.end_date
    GROUP BY p.period
),

spending AS (
    SELECT
        p.period,
        exact_sum(s.cost) AS spend,
        exact_sum(CASE WHEN list_contains($paid, s.channel_group) THEN s.cost END) AS paid_spend
    FROM periods AS p
    JOIN spend AS s ON s.date BETWEEN p.start_date AND p.end_date
    GROUP BY p.period
),

m1_cohort AS (
    -- users registered in P whose day 30..59 window has ended by the data's last day
    SELECT p.period, u.user_id, u.register_date, u.referrer_id IS NOT NULL AS invitee
    FROM periods AS p
    JOIN first_register AS u ON u.register_date BETWEEN p.start_date AND p.end_date
    WHERE u.register_date + 59 <= $last_day
),

months AS (
    -- calendar months of P whose next month lies wholly within the data
    SELECT period, month_start
    FROM (
        SELECT period, CAST(unnest(generate_series(
            date_trunc('month', start_date), date_trunc('month', end_date), INTERVAL 1 MONTH
        )) AS DATE) AS month_start
        FROM periods
    )
    WHERE CAST(month_start + INTERVAL 2 MONTH - INTERVAL 1 DAY AS DATE) <= $last_day
),

high_value_pairs AS (
    SELECT m.period, m.month_start, o.user_id
    FROM months AS m
    JOIN orders_ AS o ON date_trunc('month', o.order_date) = m.month_start
    GROUP BY m.period, m.month_start, o.user_id
    HAVING exact_sum(o.amount) >= $high_value_total
),

m3_payers AS (
    -- new payers of P whose day 90..119 window (after the first order) has ended
    SELECT p.period, u.user_id, u.first_order_date
    FROM periods AS p
    JOIN first_order AS u ON u.first_order_date BETWEEN p.start_date AND p.end_date
    WHERE u.first_order_date + 119 <= $last_day
),

windows AS (
    -- the activity windows to test, as day indexes [a, b]; month_start only for high_value
    SELECT kind, period, user_id, month_start, greatest(a, 0) AS a, b
    FROM (
    SELECT 'm1' AS kind, period, user_id, CAST(NULL AS DATE) AS month_start,
           register_date - $first_day::DATE + 30 AS a, register_date - $first_day::DATE + 59 AS b
    FROM m1_cohort
    UNION ALL
    SELECT 'high_value', period, user_id, month_start,
           CAST(month_start + INTERVAL 1 MONTH AS DATE) - $first_day::DATE,
           CAST(month_start + INTERVAL 2 MONTH - INTERVAL 1 DAY AS DATE) - $first_day::DATE
    FROM high_value_pairs
    UNION ALL
    SELECT 'm3', period, user_id, NULL, first_order_date - $first_day::DATE + 90,
           first_order_date - $first_day::DATE + 119
    FROM m3_payers
    )
    WHERE b >= 0 AND a <= b
),

window_hits AS (
    -- windows with an active day: the user's words a // 64 .. b // 64, masked to [a, b]
    SELECT DISTINCT x.kind, x.period, x.user_id, x.month_start
    FROM (
        SELECT *, unnest(range(a // 64, b // 64 + 1)) AS word FROM windows
    ) AS x
    JOIN activity_words AS w ON w.user_id = x.user_id AND w.word = x.word
    WHERE w.bits & day_mask(x.a, x.b, x.word) <> 0
),

m1 AS (
    SELECT
        c.period,
        count(*) AS m1_cohort,
        count(h.user_id) AS m1_retained,
        count(*) FILTER (WHERE c.invitee) AS invitee_m1_cohort,
        count(h.user_id) FILTER (WHERE c.invitee) AS invitee_m1_retained
    FROM m1_cohort AS c
    LEFT JOIN window_hits AS h ON h.kind = 'm1' AND h.period = c.period AND h.user_id = c.user_id
    GROUP BY c.period
),

high_value AS (
    SELECT p.period, count(*) AS high_value_pairs, count(h.user_id) AS high_value_retained
    FROM high_value_pairs AS p
    LEFT JOIN window_hits AS h
      ON h.kind = 'high_value' AND h.period = p.period AND h.month_start = p.month_start
     AND h.user_id = p.user_id
    GROUP BY p.period
),

m3 AS (
    SELECT
        c.period,
        count(*) AS m3_payer_cohort,
        count(h.user_id) AS m3_payer_retained
    FROM m3_payers AS c
    LEFT JOIN window_hits AS h ON h.kind = 'm3' AND h.period = c.period AND h.user_id = c.user_id
    GROUP BY c.period
),

campaign_totals AS (
    SELECT p.period, exact_sum(c.revenue) AS campaign_revenue, exact_sum(c.cost) AS campaign_cost
    FROM periods AS p
    JOIN campaign_results AS c ON c.start_date BETWEEN p.start_date AND p.end_date
    GROUP BY p.period
)

SELECT
    p.period,
    coalesce(r.new_users, 0) AS new_users,
    coalesce(a.active_users, 0) AS active_users,
    dau.dau_peak,
    dau.dau_avg,
    coalesce(y.payers, 0) AS payers,
    coalesce(f.new_payers, 0) AS new_payers,
    coalesce(y.gmv, 0.0) AS gmv,
    coalesce(rf.refunds, 0.0) AS refunds,
    s.spend,
    s.paid_spend,
    coalesce(r.paid_new_users, 0) AS paid_new_users,
    coalesce(r.passive_new_users, 0) AS passive_new_users,
    ct.campaign_revenue,
    ct.campaign_cost,
    coalesce(m1.m1_cohort, 0) AS m1_cohort,
    coalesce(m1.m1_retained, 0) AS m1_retained,
    coalesce(m1.invitee_m1_cohort, 0) AS invitee_m1_cohort,
    coalesce(m1.invitee_m1_retained, 0) AS invitee_m1_retained,
    coalesce(hv.high_value_pairs, 0) AS high_value_pairs,
    coalesce(hv.high_value_retained, 0) AS high_value_retained,
    coalesce(m3.m3_payer_cohort, 0) AS m3_payer_cohort,
    coalesce(m3.m3_payer_retained, 0) AS m3_payer_retained
FROM periods AS p
LEFT JOIN registered AS r USING (period)
LEFT JOIN active AS a USING (period)
LEFT JOIN dau USING (period)
LEFT JOIN paying AS y USING (period)
LEFT JOIN first_payers AS f USING (period)
LEFT JOIN refunding AS rf USING (period)
LEFT JOIN spending AS s USING (period)
LEFT JOIN campaign_totals AS ct USING (period)
LEFT JOIN m1 USING (period)
LEFT JOIN high_value AS hv USING (period)
LEFT JOIN m3 USING (period)
ORDER BY p.period
