"""The library's own exceptions. The CLI turns them into ``Error: …`` and exit code 1."""


class CampaignRoiError(Exception):
    """Base class: a problem with the user's data, options or environment (not a bug)."""


class DataError(CampaignRoiError):
    """The dataset is unusable as given: names the file, the column and the fix."""


class UserError(CampaignRoiError):
    """An option or argument is wrong: names the option and the accepted values."""


#: what to do when DuckDB cannot finish within its memory limit (after spilling what it can)
MEMORY_FIX = ('raise engine.memory_limit (e.g. "4GB") or lower engine.threads in '
              "campaign_roi.toml; DuckDB spills to $TMPDIR/campaign_roi_spill beyond the limit")


def is_out_of_memory(exc: BaseException) -> bool:
    """DuckDB's out-of-memory error, raised as is or wrapped in a DataError."""
    return type(exc).__name__ == "OutOfMemoryException" or "Out of Memory Error" in str(exc)
