-- Daily trend per acquisition channel (report): new users registered that local day and the
-- order amounts of that day, both by the user's acquisition channel (last_non_direct,
-- register). Users who never registered count under 'unregistered'. Params: $start, $end.
WITH
new_users AS (
    SELECT register_date AS date, acquisition_channel AS channel, count(*) AS new_users
    FROM users
    WHERE register_date BETWEEN $start AND $end
    GROUP BY ALL
),

revenue AS (
    SELECT
        o.event_date AS date,
        coalesce(u.acquisition_channel, 'unregistered') AS channel,
        sum(o.amount) AS revenue
    FROM orders AS o
    LEFT JOIN users AS u USING (user_id)
    WHERE o.event_date BETWEEN $start AND $end
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
