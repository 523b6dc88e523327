"""Dataset configuration: ``campaign_roi.toml`` in the data directory or ``--config FILE``.

Every key is optional; see docs/configuration.md for the full reference.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from campaign_roi.errors import DataError

DEFAULT_GROUPS: tuple[str, ...] = (
    "campus_community",
    "kol",
    "feed_ads",
    "referral",
    "direct",
    "other",
)
ORGANIC = "organic"
OTHER = "other"
DIRECT = "direct"
DEFAULT_PAID: tuple[str, ...] = ("campus_community", "kol", "feed_ads")
DEFAULT_PASSIVE: tuple[str, ...] = ("referral", "organic", "direct")
CONVERSION_TYPES: tuple[str, ...] = ("register", "first_order", "order")
DEFAULT_LOOKBACK: dict[str, float] = {"register": 30.0, "first_order": 90.0, "order": 90.0}


@dataclass(frozen=True)
class Config:
    timezone: str = "UTC"
    currency: str = ""
    #: ordered (group, glob) rules; the first match wins (after exact group names)
    channel_rules: tuple[tuple[str, str], ...] = ()
    groups: tuple[str, ...] = DEFAULT_GROUPS
    paid: tuple[str, ...] = DEFAULT_PAID
    passive: tuple[str, ...] = DEFAULT_PASSIVE
    lookback_days: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LOOKBACK))
    half_life_days: float = 7.0
    high_value_order_total: float = 200.0
    #: raw [lifecycle] table, read by campaign_roi.lifecycle
    lifecycle: dict[str, Any] = field(default_factory=dict)
    #: period label -> {kpi or kpi_max / kpi_min: target}
    targets: dict[str, dict[str, float]] = field(default_factory=dict)
    memory_limit: str | None = None
    threads: int | None = None
    source: Path | None = None


def _fail(source: Path, key: str, problem: str) -> DataError:
    return DataError(f"{source}: key `{key}` {problem}")


def _str_list(source: Path, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(source, key, 'must be a list of strings, e.g. ["kol_*", "influencer_*"]')
    return tuple(value)


def _number(source: Path, key: str, value: Any, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise _fail(source, key, f"must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def load_config(path: Path | None) -> Config:
    """Read a config file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: config file not found; fix the --config path") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid TOML ({exc}); fix the file's syntax") from exc
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], source: Path) -> Config:
    known = {
        "timezone", "currency", "channels", "groups", "lookback_days", "attribution",
        "thresholds", "lifecycle", "targets", "engine",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _fail(source, unknown[0], f"is not a known setting (known: {', '.join(sorted(known))})")
    tz = raw.get("timezone", "UTC")
    if not isinstance(tz, str) or not tz:
        raise _fail(source, "timezone", 'must be an IANA zone name such as "Asia/Shanghai"')

    rules: list[tuple[str, str]] = []
    channels = raw.get("channels", {})
    if not isinstance(channels, dict):
        raise _fail(source, "channels", "must be a table: group = [\"glob\", ...]")
    for group, globs in channels.items():
        for glob in _str_list(source, f"channels.{group}", globs):
            rules.append((group, glob))
    groups = tuple(dict.fromkeys([*DEFAULT_GROUPS, *channels.keys()]))

    grp = raw.get("groups", {})
    paid = _str_list(source, "groups.paid", grp.get("paid", list(DEFAULT_PAID)))
    passive = _str_list(source, "groups.passive", grp.get("passive", list(DEFAULT_PASSIVE)))

    lookback = dict(DEFAULT_LOOKBACK)
    for conv, days in raw.get("lookback_days", {}).items():
        if conv not in CONVERSION_TYPES:
            raise _fail(source, f"lookback_days.{conv}", f"must be one of {CONVERSION_TYPES}")
        lookback[conv] = _number(source, f"lookback_days.{conv}", days)

    attribution = raw.get("attribution", {})
    half_life = _number(
        source, "attribution.half_life_days", attribution.get("half_life_days", 7.0), 1e-9
    )
    thresholds = raw.get("thresholds", {})
    hv = _number(
        source, "thresholds.high_value_order_total",
        thresholds.get("high_value_order_total", 200.0),
    )
    targets: dict[str, dict[str, float]] = {}
    for label, table in raw.get("targets", {}).items():
        if not isinstance(table, dict):
            raise _fail(source, f"targets.{label}", "must be a table of kpi = number")
        targets[str(label)] = {
            k: _number(source, f"targets.{label}.{k}", v, float("-inf")) for k, v in table.items()
        }
    engine = raw.get("engine", {})
    threads = engine.get("threads")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise _fail(source, "engine.threads", "must be a whole number >= 1")
    memory_limit = engine.get("memory_limit")
    if memory_limit is not None and not isinstance(memory_limit, str):
        raise _fail(source, "engine.memory_limit", 'must be a string such as "2GB"')
    lifecycle = raw.get("lifecycle", {})
    if not isinstance(lifecycle, dict):
        raise _fail(source, "lifecycle", "must be a table of threshold = number")
    return Config(
        timezone=tz,
        currency=str(raw.get("currency", "")),
        channel_rules=tuple(rules),
        groups=groups,
        paid=paid,
        passive=passive,
        lookback_days=lookback,
        half_life_days=half_life,
        high_value_order_total=hv,
        lifecycle=dict(lifecycle),
        targets=targets,
        memory_limit=memory_limit,
        threads=threads,
        source=source,
    )
