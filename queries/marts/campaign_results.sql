-- Campaign results (SPEC §5.2), one row per campaign: cost (spend rows with its campaign_id),
-- participants (distinct users with its campaign_join within its dates), converted_payers
-- (participants with an order from their first join to end_date + 7 days) and revenue (those
-- orders' amounts). Ratios are computed in the Polars layer (campaign_roi.metrics).
WITH
campaign AS (
    SELECT campaign_id, name, start_date, end_date, budget
    FROM campaigns
),

campaign_cost AS (
    SELECT campaign_id, sum(cost) AS cost
    FROM spend
    WHERE campaign_id IS NOT NULL
    GROUP BY campaign_id
),

joins AS (
    SELECT e.campaign_id, e.user_id, min(e.event_time) AS first_join
    FROM events AS e
    JOIN campaign AS c
      ON e.campaign_id = c.campaign_id
     AND e.event_date BETWEEN c.start_date AND c.end_date
    WHERE e.event_type = 'campaign_join'
    GROUP BY e.campaign_id, e.user_id
),

converting_orders AS (
    SELECT j.campaign_id, j.user_id, o.amount
    FROM joins AS j
    JOIN campaign AS c USING (campaign_id)
    JOIN orders AS o
      ON o.user_id = j.user_id
     AND o.event_time >= j.first_join
     AND o.event_date <= c.end_date + 7
),

participation AS (
    SELECT campaign_id, count(*) AS participants
    FROM joins
    GROUP BY campaign_id
),

conversion AS (
    SELECT campaign_id, count(DISTINCT user_id) AS converted_payers, sum(amount) AS revenue
    FROM converting_orders
    GROUP BY campaign_id
)

SELECT
    c.campaign_id,
    c.name,
    c.start_date,
    c.end_date,
    k.cost,
    coalesce(p.participants, 0) AS participants,
    coalesce(v.converted_payers, 0) AS converted_payers,
    coalesce(v.revenue, 0.0) AS revenue
FROM campaign AS c
LEFT JOIN campaign_cost AS k USING (campaign_id)
LEFT JOIN participation AS p USING (campaign_id)
LEFT JOIN conversion AS v USING (campaign_id)
ORDER BY c.start_date, c.campaign_id
