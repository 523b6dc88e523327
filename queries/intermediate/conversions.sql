-- Conversions (SPEC §4): register (each user's first, value 0), first_order, order (every order).
-- One row per conversion; conversion_date is the local date; net_value subtracts linked refunds;
-- referrer_id is the inviting user of a register.
WITH
conversion_events AS MATERIALIZED (
    -- registers, orders and the refunds linked to orders (intermediate/key_events.sql: one
    -- scan of the files, or its table when the command materialised it)
    SELECT event_type, user_id, event_time, event_id, order_id, campaign_id, referrer_id, amount
    FROM key_events
    WHERE event_type IN ('register', 'order', 'refund')
),

registers AS (
    SELECT user_id, event_time, event_id, campaign_id, referrer_id
    FROM conversion_events
    WHERE event_type = 'register'
),

refunds AS (
    -- as in the orders view: refunded = the amounts of the refunds naming the order
    SELECT order_id, exact_sum(amount) AS refunded
    FROM conversion_events
    WHERE event_type = 'refund' AND order_id IS NOT NULL
    GROUP BY order_id
),

orders_ AS (
    SELECT o.user_id, o.event_time, o.event_id, o.order_id, o.campaign_id, o.amount,
           o.amount - coalesce(r.refunded, 0.0) AS net_amount
    FROM conversion_events AS o
    LEFT JOIN refunds AS r ON o.order_id = r.order_id
    WHERE o.event_type = 'order'
),

first_register AS (
    -- the first register by (event_time, event_id), a missing event_id last: one hash group per
    -- user (a window over the registers alone ran twice as long when a query kept only them);
    -- the key is one byte string that sorts as the columns do (create_sort_key)
    SELECT user_id, first.*
    FROM (
        SELECT user_id,
               arg_min({'event_time': event_time, 'event_id': event_id,
                        'campaign_id': campaign_id, 'referrer_id': referrer_id},
                       create_sort_key(event_time, 'ASC NULLS LAST',
                                       event_id, 'ASC NULLS LAST')) AS first
        FROM registers
        GROUP BY user_id
    )
),

ranked_orders AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY user_id ORDER BY event_time, event_id, order_id) AS order_rank
    FROM orders_
)

SELECT
    'register' AS conversion_type,
    user_id || ':register' AS conversion_id,
    user_id,
    event_time AS conversion_time,
    CAST(event_time AS DATE) AS conversion_date,
    0.0 AS value,
    0.0 AS net_value,
    CAST(NULL AS VARCHAR) AS order_id,
    campaign_id,
    referrer_id
FROM first_register
UNION ALL
SELECT
    'first_order',
    user_id || ':first_order',
    user_id,
    event_time,
    CAST(event_time AS DATE),
    amount,
    net_amount,
    order_id,
    campaign_id,
    CAST(NULL AS VARCHAR)
FROM ranked_orders
WHERE order_rank = 1
UNION ALL
SELECT
    'order',
    user_id || ':order:' || order_rank,
    user_id,
    event_time,
    CAST(event_time AS DATE),
    amount,
    net_amount,
    order_id,
    campaign_id,
    CAST(NULL AS VARCHAR)
FROM ranked_orders
