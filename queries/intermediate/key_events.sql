-- The rare events the conversions, the campaign participants and the KPI refunds read:
-- register, order, refund and campaign_join (2.8 M of the 53 M rows at scale 1). One scan of the
-- files for all of them: a command reads it into a table once, makes tables of those three
-- views from it and drops it (Dataset.materialize), instead of decompressing the files'
-- user_id and event_time columns once for each.
WITH
rare AS (
    SELECT event_type, user_id, event_time, event_date, event_id, order_id, campaign_id,
           referrer_id, amount
    FROM events
    WHERE event_type IN ('campaign_join', 'order', 'refund', 'register')
      -- the same rows: a range on the column is evaluated by the Parquet reader, which then
      -- decodes the other columns for the matching rows only (an IN list is not pushed);
      -- 'active' sorts before 'campaign_join', 'touch' after 'register'
      AND event_type BETWEEN 'campaign_join' AND 'register'
)

SELECT event_type, user_id, event_time, event_date, event_id, order_id, campaign_id,
       referrer_id, amount
FROM rare
