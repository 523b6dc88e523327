-- Acquisition channel of each registered user (SPEC §5 paid_cac/passive_share, §6 --by channel):
-- the user's first register attributed with last_non_direct over touches within the register
-- lookback (session variable register_lookback_us); organic when no touch is eligible.
-- The session variables acquisition_from/acquisition_to (local dates, unset = all) limit the
-- registrants, so a KPI query pays only for the period's new users, and the touches read: only
-- those on local days from acquisition_from − lookback − 1 to acquisition_to + 1 (one spare day
-- each side for zone offsets), written on local_time so that the Parquet reader skips the other
-- months' files. The touches come from the view acquisition_touches: the touches view, or, while
-- an attribution run's window_touches table exists, that table plus the touches outside its
-- days (campaign_roi.attribution.prepare_window_touches): the same rows, fewer of them read
-- from the files.
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
    JOIN acquisition_touches AS t
      ON t.user_id = r.user_id
     AND t.event_time <= r.conversion_time
     AND t.event_time > r.conversion_time - to_microseconds(getvariable('register_lookback_us'))
    WHERE t.local_time >= CAST(coalesce(getvariable('acquisition_from'), DATE '0001-01-01')
                               AS TIMESTAMP)
                          - to_microseconds(getvariable('register_lookback_us')) - INTERVAL 1 DAY
      AND t.local_time < CAST(coalesce(getvariable('acquisition_to'), DATE '9999-12-31') + 2
                              AS TIMESTAMP)
),

last_non_direct AS (
    -- the last touch in journey order (event_time, event_id, channel, campaign_id) not in
    -- group direct;
    -- the last touch when all are direct. One group per user: the greatest key is that touch
    -- (a null event_id or channel counts as greater, as in ORDER BY … DESC NULLS FIRST). The
    -- key is one byte string that sorts as the columns do (create_sort_key): compared whole,
    -- it costs less than a struct compared field by field
    SELECT
        user_id,
        arg_max(
            {'channel_group': channel_group, 'campaign_id': campaign_id},
            create_sort_key(coalesce(channel_group <> 'direct', false), 'ASC NULLS LAST',
                            event_time, 'ASC NULLS LAST', event_id, 'ASC NULLS LAST',
                            channel, 'ASC NULLS LAST', campaign_id, 'ASC NULLS LAST')
        ) AS touch
    FROM eligible
    GROUP BY user_id
)

SELECT
    r.user_id,
    coalesce(l.touch.channel_group, 'organic') AS acquisition_channel,
    l.touch.campaign_id AS acquisition_campaign_id
FROM registers AS r
LEFT JOIN last_non_direct AS l USING (user_id)
