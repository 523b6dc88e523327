-- The activity words of intermediate/activity_words.sql (one row per (user, word), bit j of
-- `bits` set when the user has an activity event on local day d0 + 64 * word + j, d0 the
-- data's first local day, from which the layer's words count), made from the file layer (campaign_roi.file_layer) instead of the events files: each file's
-- own words, kept in the cache (the view layer_words), merged per (user, word) — a 64-day
-- word spans files — and cut to the day indexes $from_day .. $to_day - 1 with day_mask
-- (campaign_roi.kpis.DAY_MASK_MACRO), so that the rows are those activity_words.sql gives for
-- the same parameters. Params as there: $from_day, $to_day, $user_slices, $user_slice (the
-- same slices of users: hash(user_id) % $user_slices = $user_slice).
WITH
file_words AS (
    SELECT user_id, word, bits
    FROM layer_words
    -- a range on the column: the Parquet reader skips the files of other words
    WHERE word BETWEEN $from_day // 64 AND ($to_day - 1) // 64
      AND ($user_slices = 1
           OR hash(user_id) % CAST($user_slices AS UBIGINT) = CAST($user_slice AS UBIGINT))
),

merged AS (
    SELECT user_id, word, bit_or(bits) & day_mask($from_day, $to_day - 1, word) AS bits
    FROM file_words
    GROUP BY user_id, word
)

SELECT user_id, word, bits
FROM merged
WHERE bits <> 0
