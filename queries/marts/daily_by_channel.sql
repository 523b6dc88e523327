-- Daily trend per acquisition channel (report): new users registered that local day and the
-- order amounts of that day, both by the user's acquisition channel (last_non_direct,
-- register). Users who never registered count under 'unregistered'. Params: $start, $end.
WITH
registers AS (
    -- each user's first register
    SELECT user_id, conversion_date AS register_date
    FROM conversions
    WHERE conversion_type = 'register'
),

orders_ AS (
    SELECT user_id, conversion_date AS order_date, value AS amount
    FROM conversions
    WHERE conversion_type = 'order'
),

acquired AS (
    -- the acquisition of every user registered by the period's end (Dataset.period_acquisition)
    SELECT user_id, acquisition_channel
    FROM period_acquisition
),

new_users AS (
    SELECT r.register_date AS date, a.acquisition_channel AS channel, count(*) AS new_users
    FROM registers AS r
    LEFT JOIN acquired AS a USING (user_id)
    WHERE r.register_date BETWEEN $start AND $end
    GROUP BY ALL
),

revenue AS (
    SELECT
        o.order_date AS date,
        coalesce(a.acquisition_channel, 'unregistered') AS channel,
        exact_sum(o.amount) AS revenue
    FROM orders_ AS o
    LEFT JOIN acquired AS a USING (user_id)
    WHERE o.order_date BETWEEN $start AND $end
    GROUP BY ALL
)

SELECT
    date,
    channel,
    coalesce(n.new_users, 0) AS new_users,
    coalesce(r.revenue, 0.0) AS revenue
FROM new_users AS n
FULL OUTER JOIN revenue AS r USING (date, channel)
ORDER BY date, channel
