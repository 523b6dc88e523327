-- Path table (SPEC §4.1): one row per distinct path ("a > b > c") with conversions, value and
-- nulls, from the materialised tables `journeys` and `null_journeys` (both transformed).
-- Param: $net (value net of refunds). Directly usable by ChannelAttribution.
WITH
converting AS (
    SELECT
        conversion_id,
        string_agg(channel, ' > ' ORDER BY pos) AS path,
        any_value(CASE WHEN $net THEN net_value ELSE value END) AS value
    FROM journeys
    GROUP BY conversion_id
),

non_converting AS (
    SELECT conversion_id, string_agg(channel, ' > ' ORDER BY pos) AS path
    FROM null_journeys
    GROUP BY conversion_id
),

converting_paths AS (
    SELECT path, count(*) AS conversions, exact_sum(value) AS value
    FROM converting
    GROUP BY path
),

null_paths AS (
    SELECT path, count(*) AS nulls
    FROM non_converting
    GROUP BY path
)

SELECT
    path,
    coalesce(c.conversions, 0) AS conversions,
    coalesce(c.value, 0.0) AS value,
    coalesce(n.nulls, 0) AS nulls
FROM converting_paths AS c
FULL OUTER JOIN null_paths AS n USING (path)
ORDER BY path
