-- One campaign's daily series (campaign detail): first joins, and the converting orders and
-- their revenue per local day. Param: $id.
WITH
joins AS (
    SELECT CAST(first_join AS DATE) AS date, count(*) AS joins
    FROM campaign_joins
    WHERE campaign_id = $id
    GROUP BY 1
),

orders_ AS (
    SELECT event_date AS date, count(*) AS orders, exact_sum(amount) AS revenue
    FROM campaign_orders
    WHERE campaign_id = $id
    GROUP BY 1
)

SELECT
    date,
    coalesce(j.joins, 0) AS joins,
    coalesce(o.orders, 0) AS orders,
    coalesce(o.revenue, 0.0) AS revenue
FROM joins AS j
FULL OUTER JOIN orders_ AS o USING (date)
ORDER BY date
