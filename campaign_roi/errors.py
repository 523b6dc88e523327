"""The library's own exceptions. The CLI turns them into ``Error: …`` and exit code 1."""


class CampaignRoiError(Exception):
    """Base class: a problem with the user's data, options or environment (not a bug)."""


class DataError(CampaignRoiError):
    """The dataset is unusable as given: names the file, the column and the fix."""


class UserError(CampaignRoiError):
    """An option or argument is wrong: names the option and the accepted values."""
