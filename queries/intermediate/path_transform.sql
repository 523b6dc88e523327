-- Path transform (SPEC §4) over the materialised table `eligible` (one row per touch:
-- conversion_id, seq, channel, …): unique (as is), exposure (collapse consecutive repeats,
-- keep the latest of each run), first (first occurrence of each channel), frequency (one entry
-- per channel in first-seen order, touch_count = its count); then keep the last $max_touches
-- (0 = all). Params: $transform, $max_touches. Adds pos (1..n), n and touch_count.
WITH
flagged AS (
    SELECT
        *,
        lead(channel) OVER by_seq IS DISTINCT FROM channel AS last_of_run,
        row_number() OVER (PARTITION BY conversion_id, channel ORDER BY seq) = 1
            AS first_of_channel,
        count(*) OVER (PARTITION BY conversion_id, channel) AS channel_touches
    FROM eligible
    WINDOW by_seq AS (PARTITION BY conversion_id ORDER BY seq)
),

kept AS (
    SELECT *
    FROM flagged
    WHERE CASE $transform
        WHEN 'unique' THEN true
        WHEN 'exposure' THEN last_of_run
        ELSE first_of_channel
    END
),

limited AS (
    SELECT *
    FROM kept
    QUALIFY $max_touches = 0
         OR row_number() OVER (PARTITION BY conversion_id ORDER BY seq DESC) <= $max_touches
)

SELECT
    * EXCLUDE (last_of_run, first_of_channel, channel_touches, seq),
    CASE WHEN $transform = 'frequency' THEN channel_touches ELSE 1 END AS touch_count,
    row_number() OVER (PARTITION BY conversion_id ORDER BY seq) AS pos,
    count(*) OVER (PARTITION BY conversion_id) AS n
FROM limited
