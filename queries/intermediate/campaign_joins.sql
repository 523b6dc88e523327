-- Campaign participants (SPEC §5.2): one row per (campaign, user) with a campaign_join of that
-- campaign within its dates, and the user's first such join.
WITH
campaign AS (
    SELECT campaign_id, start_date, end_date
    FROM campaigns
),

joins AS (
    SELECT campaign_id, user_id, event_time, event_date
    FROM key_events
    WHERE event_type = 'campaign_join'
)

SELECT j.campaign_id, j.user_id, min(j.event_time) AS first_join
FROM joins AS j
JOIN campaign AS c
  ON j.campaign_id = c.campaign_id
 AND j.event_date BETWEEN c.start_date AND c.end_date
GROUP BY j.campaign_id, j.user_id
