-- Non-converting touches (SPEC §4.1): per user, the touches in the period after the user's
-- last conversion of this type (all touches if none), within one lookback of the period end.
-- Params: $conversion, $start, $end (local dates), $end_instant (end of the period's last
-- local day), $lookback_us. Shaped like eligible_touches (one journey per user). Reads the
-- materialised tables `type_conversions` and `window_touches` (campaign_roi/attribution.py).
WITH
last_conversion AS (
    SELECT user_id, max(conversion_time) AS last_time
    FROM type_conversions
    WHERE conversion_type = $conversion
      AND conversion_date <= $end
    GROUP BY user_id
),

period_touches AS (
    SELECT t.*
    FROM window_touches AS t
    LEFT JOIN last_conversion AS l USING (user_id)
    WHERE t.event_date BETWEEN $start AND $end
      AND t.event_time > $end_instant - to_microseconds($lookback_us)
      AND (l.last_time IS NULL OR t.event_time > l.last_time)
)

SELECT
    'null:' || user_id AS conversion_id, user_id,
    CAST(NULL AS TIMESTAMPTZ) AS conversion_time, 0.0 AS value, 0.0 AS net_value,
    event_time AS touch_time, channel_group AS channel, campaign_id,
    row_number() OVER (PARTITION BY user_id ORDER BY event_time, event_id, channel) AS seq
FROM period_touches
