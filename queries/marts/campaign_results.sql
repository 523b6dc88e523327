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
    SELECT campaign_id, exact_sum(cost) AS cost
    FROM spend
    WHERE campaign_id IS NOT NULL
    GROUP BY campaign_id
),

joins AS (
    SELECT campaign_id, user_id
    FROM campaign_joins
),

converting_orders AS (
    SELECT campaign_id, user_id, amount
    FROM campaign_orders
),

participation AS (
    SELECT campaign_id, count(*) AS participants
    FROM joins
    GROUP BY campaign_id
),

conversion AS (
    SELECT campaign_id, count(DISTINCT user_id) AS converted_payers, exact_sum(amount) AS revenue
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
