"""Raw channel labels → channel groups (SPEC §3).

A raw value equal to a group name (case-insensitive) maps to that group; otherwise the first
config rule whose case-insensitive glob matches wins; anything unmatched is ``other``.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from campaign_roi.config import OTHER, Config


def group_of(raw: str, config: Config) -> str:
    low = raw.strip().lower()
    for group in config.groups:
        if low == group.lower():
            return group
    for group, glob in config.channel_rules:
        if fnmatchcase(low, glob.lower()):
            return group
    return OTHER


def map_channels(raws: Iterable[str], config: Config) -> dict[str, str]:
    """Mapping for the distinct raw labels of a dataset (small: one entry per label)."""
    return {raw: group_of(raw, config) for raw in raws}


def is_unmatched(raw: str, config: Config) -> bool:
    """True when a raw label fell through to ``other`` without a rule saying so."""
    low = raw.strip().lower()
    if low == OTHER:
        return False
    if any(fnmatchcase(low, g.lower()) for grp, g in config.channel_rules if grp == OTHER):
        return False
    return group_of(raw, config) == OTHER
