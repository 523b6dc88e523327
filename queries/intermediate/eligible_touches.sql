-- Eligible touches (SPEC §4): for each conversion of user u at time T, u's touches with
-- T − lookback < event_time <= T, numbered in journey order (event_time, event_id, channel).
-- Reads the materialised tables `period_conversions` (the conversions of one type in the
-- analysed period) and `window_touches` (the touches they can use), see
-- campaign_roi/attribution.py. Param: $lookback_us.
WITH
conv AS (
    SELECT conversion_id, user_id, conversion_time, value, net_value
    FROM period_conversions
),

touch AS (
    SELECT user_id, event_time, event_id, channel AS raw_channel, channel_group, campaign_id
    FROM window_touches
    WHERE user_id IN (SELECT user_id FROM conv)
)

SELECT
    c.conversion_id, c.user_id, c.conversion_time, c.value, c.net_value,
    t.event_time AS touch_time, t.channel_group AS channel, t.campaign_id,
    row_number() OVER (
        PARTITION BY c.conversion_id
        ORDER BY t.event_time, t.event_id, t.raw_channel, t.campaign_id
    ) AS seq
FROM conv AS c
JOIN touch AS t
  ON t.user_id = c.user_id
 AND t.event_time <= c.conversion_time
 AND t.event_time > c.conversion_time - to_microseconds($lookback_us)
