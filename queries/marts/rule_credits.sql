-- Rule-based attribution credits (SPEC §4) for every kept touch of every journey, all six
-- models in one pass. Reads the materialised table `journeys` (intermediate/journeys.sql).
-- Params: $half_life_days. Conversions without a journey are credited to organic elsewhere.
WITH
j AS (
    SELECT * FROM journeys
),

per_conversion AS (
    SELECT
        conversion_id,
        max(pos) FILTER (WHERE channel <> 'direct') AS last_non_direct_pos,
        max(touch_time) AS latest_touch
    FROM j
    GROUP BY conversion_id
),

weighted AS (
    SELECT
        j.*,
        p.last_non_direct_pos,
        -- 2^(-(T - t_i)/H), scaled by the latest touch's weight (cancels in the normalisation,
        -- so the largest weight is 1 and nothing underflows)
        power(2.0, -(epoch(p.latest_touch) - epoch(j.touch_time)) / 86400.0 / $half_life_days)
            AS decay_weight
    FROM j
    JOIN per_conversion AS p USING (conversion_id)
),

credits AS (
    SELECT
        conversion_id, user_id, conversion_time, value, net_value, channel, campaign_id,
        pos, n,
        CAST(pos = 1 AS DOUBLE) AS first_touch,
        CAST(pos = n AS DOUBLE) AS last_touch,
        CAST(pos = coalesce(last_non_direct_pos, n) AS DOUBLE) AS last_non_direct,
        1.0 / n AS linear,
        CASE
            WHEN n = 1 THEN 1.0
            WHEN n = 2 THEN 0.5
            WHEN pos = 1 OR pos = n THEN 0.4
            ELSE 0.2 / (n - 2)
        END AS position_based,
        -- ordered by position over the whole journey: the weights are summed in one order,
        -- so a credit is the same to the last bit whatever order the rows arrive in
        decay_weight / sum(decay_weight) OVER (
            PARTITION BY conversion_id ORDER BY pos
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        ) AS time_decay
    FROM weighted
)

SELECT
    conversion_id, user_id, conversion_time, channel, campaign_id, pos, n, model, credit,
    credit * value AS value_credit,
    credit * net_value AS net_value_credit
FROM (
    UNPIVOT credits
    ON first_touch, last_touch, last_non_direct, linear, position_based, time_decay
    INTO NAME model VALUE credit
)
