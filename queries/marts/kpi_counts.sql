-- KPI counts and sums per period (SPEC §5). Reads the temp tables kpi_periods(period,
-- start_date, end_date) and user_days(user_id, event_date: distinct activity days), and the
-- campaign results (temp table campaign_results). New users and payers come from the
-- conversions (first register, first order), not from the users view, so the acquisition
-- of only the periods' registrants is computed. Ratios are computed in the Polars layer.
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

acquired AS (
    SELECT user_id, acquisition_channel
    FROM acquisition
),

days AS (
    -- the period's days that lie within the data (days without activity count as 0)
    SELECT period, CAST(unnest(generate_series(
        greatest(start_date, $first_day), least(end_date, $last_day), INTERVAL 1 DAY)) AS DATE) AS day
    FROM periods
),

daily_active AS (
    SELECT event_date, count(*) AS dau
    FROM user_days
    WHERE event_date IN (SELECT day FROM days)
    GROUP BY event_date
),

dau AS (
    SELECT d.period, max(coalesce(a.dau, 0)) AS dau_peak, avg(coalesce(a.dau, 0)) AS dau_avg
    FROM days AS d
    LEFT JOIN daily_active AS a ON a.event_date = d.day
    GROUP BY d.period
),

active AS (
    -- an equi-join on the day (a hash join with the few period days as the build side)
    SELECT d.period, count(DISTINCT u.user_id) AS active_users
    FROM days AS d
    JOIN user_days AS u ON u.event_date = d.day
    GROUP BY d.period
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
    SELECT p.period, count(DISTINCT o.user_id) AS payers, sum(o.amount) AS gmv
    FROM periods AS p
    JOIN orders AS o ON o.event_date BETWEEN p.start_date AND p.end_date
    GROUP BY p.period
),

refunding AS (
    SELECT p.period, sum(e.amount) AS refunds
    FROM periods AS p
    JOIN events AS e
      ON e.event_type = 'refund' AND e.event_date BETWEEN p.start_date AND p.end_date
    GROUP BY p.period
),

spending AS (
    SELECT
        p.period,
        sum(s.cost) AS spend,
        sum(s.cost) FILTER (WHERE list_contains($paid, s.channel_group)) AS paid_spend
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

m1_retained AS (
    SELECT DISTINCT c.period, c.user_id
    FROM m1_cohort AS c
    JOIN user_days AS d
      ON d.user_id = c.user_id
     AND d.event_date BETWEEN c.register_date + 30 AND c.register_date + 59
),

m1 AS (
    SELECT
        c.period,
        count(*) AS m1_cohort,
        count(r.user_id) AS m1_retained,
        count(*) FILTER (WHERE c.invitee) AS invitee_m1_cohort,
        count(r.user_id) FILTER (WHERE c.invitee) AS invitee_m1_retained
    FROM m1_cohort AS c
    LEFT JOIN m1_retained AS r USING (period, user_id)
    GROUP BY c.period
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
    JOIN orders AS o ON date_trunc('month', o.event_date) = m.month_start
    GROUP BY m.period, m.month_start, o.user_id
    HAVING sum(o.amount) >= $high_value_total
),

high_value_retained AS (
    SELECT DISTINCT h.period, h.month_start, h.user_id
    FROM high_value_pairs AS h
    JOIN user_days AS d
      ON d.user_id = h.user_id
     AND d.event_date BETWEEN CAST(h.month_start + INTERVAL 1 MONTH AS DATE)
                          AND CAST(h.month_start + INTERVAL 2 MONTH - INTERVAL 1 DAY AS DATE)
),

high_value AS (
    SELECT h.period, count(*) AS high_value_pairs, count(r.user_id) AS high_value_retained
    FROM high_value_pairs AS h
    LEFT JOIN high_value_retained AS r USING (period, month_start, user_id)
    GROUP BY h.period
),

m3_payers AS (
    -- new payers of P whose day 90..119 window (after the first order) has ended
    SELECT p.period, u.user_id, u.first_order_date
    FROM periods AS p
    JOIN first_order AS u ON u.first_order_date BETWEEN p.start_date AND p.end_date
    WHERE u.first_order_date + 119 <= $last_day
),

m3 AS (
    SELECT
        c.period,
        count(DISTINCT c.user_id) AS m3_payer_cohort,
        count(DISTINCT d.user_id) AS m3_payer_retained
    FROM m3_payers AS c
    LEFT JOIN user_days AS d
      ON d.user_id = c.user_id
     AND d.event_date BETWEEN c.first_order_date + 90 AND c.first_order_date + 119
    GROUP BY c.period
),

campaign_totals AS (
    SELECT p.period, sum(c.revenue) AS campaign_revenue, sum(c.cost) AS campaign_cost
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
