-- Campaign-converting orders (SPEC §5.2): each participant's orders from their first join to
-- the campaign's end_date + 7 days, one row per (campaign, order).
WITH
participants AS (
    SELECT campaign_id, user_id, first_join
    FROM campaign_joins
),

campaign AS (
    SELECT campaign_id, end_date
    FROM campaigns
),

orders_ AS (
    -- every order (conversions of type order: value = amount)
    SELECT user_id, conversion_time AS event_time, conversion_date AS event_date, value AS amount
    FROM conversions
    WHERE conversion_type = 'order'
)

SELECT p.campaign_id, p.user_id, o.event_time, o.event_date, o.amount
FROM participants AS p
JOIN campaign AS c USING (campaign_id)
JOIN orders_ AS o
  ON o.user_id = p.user_id
 AND o.event_time >= p.first_join
 AND o.event_date <= c.end_date + 7
