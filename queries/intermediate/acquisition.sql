-- Acquisition channel of each registered user (SPEC §5 paid_cac/passive_share, §6 --by channel):
-- the user's first register attributed with last_non_direct over touches within the register
-- lookback (session variable register_lookback_us); organic when no touch is eligible.
-- The session variables acquisition_from/acquisition_to (local dates, unset = all) limit the
-- registrants, so a KPI query pays only for the period's new users.
WITH
registers AS (
    SELECT user_id, conversion_time
    FROM conversions
    WHERE conversion_type = 'register'
      AND conversion_date BETWEEN coalesce(getvariable('acquisition_from'), DATE '0001-01-01')
                              AND coalesce(getvariable('acquisition_to'), DATE '9999-12-31')
),

eligible AS (
    SELECT
        r.user_id,
        t.channel_group,
        t.campaign_id,
        t.event_time,
        t.event_id,
        t.channel
    FROM registers AS r
    JOIN touches AS t
      ON t.user_id = r.user_id
     AND t.event_time <= r.conversion_time
     AND t.event_time > r.conversion_time - to_microseconds(getvariable('register_lookback_us'))
),

last_non_direct AS (
    -- the last touch in journey order (event_time, event_id, channel) not in group direct;
    -- the last touch when all are direct
    SELECT user_id, channel_group, campaign_id
    FROM eligible
    QUALIFY row_number() OVER (
        PARTITION BY user_id
        ORDER BY (channel_group <> 'direct') DESC, event_time DESC,
                 event_id DESC NULLS FIRST, channel DESC NULLS FIRST
    ) = 1
)

SELECT
    r.user_id,
    coalesce(l.channel_group, 'organic') AS acquisition_channel,
    l.campaign_id AS acquisition_campaign_id
FROM registers AS r
LEFT JOIN last_non_direct AS l USING (user_id)
