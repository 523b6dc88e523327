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

#: every setting parse_config reads: top-level key -> the keys of its table (None: a scalar
#: or a table with free keys). docs/configuration.md documents each one (a test checks).
SETTINGS: dict[str, tuple[str, ...] | None] = {
    "timezone": None,
    "currency": None,
    "channels": None,  # group = ["glob", ...]
    "groups": ("paid", "passive"),
    "lookback_days": CONVERSION_TYPES,
    "attribution": ("half_life_days",),
    "thresholds": ("high_value_order_total",),
    "lifecycle": None,  # read by campaign_roi.lifecycle
    "targets": None,  # period label -> {kpi: target}
    "engine": ("threads", "memory_limit"),
}


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


def _table(source: Path, key: str, raw: dict[str, Any]) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise _fail(source, key, f"must be a table ([{key}] with key = value lines)")
    known = SETTINGS[key]
    if known is not None:
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise _fail(source, f"{key}.{unknown[0]}",
                        f"is not a known setting (known in [{key}]: {', '.join(known)})")
    return value


def load_config(path: Path | None) -> Config:
    """Read a config file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: config file not found; fix the --config path") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid TOML ({exc}); fix the file's syntax") from exc
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], source: Path) -> Config:
    unknown = sorted(set(raw) - set(SETTINGS))
    if unknown:
        raise _fail(source, unknown[0], f"is not a known setting (known: {', '.join(SETTINGS)})")
    tz = raw.get("timezone", "UTC")
    if not isinstance(tz, str) or not tz:
        raise _fail(source, "timezone", 'must be an IANA zone name such as "Asia/Shanghai"')

    rules: list[tuple[str, str]] = []
    channels = _table(source, "channels", raw)
    for group, globs in channels.items():
        if group.lower() == ORGANIC:
            raise _fail(source, f"channels.{group}",
                        "names the pseudo-group `organic` (conversions without a touch); "
                        "map these labels to `direct` or another group")
        for glob in _str_list(source, f"channels.{group}", globs):
            rules.append((group, glob))
    groups = tuple(dict.fromkeys([*DEFAULT_GROUPS, *channels.keys()]))

    grp = _table(source, "groups", raw)
    paid = _str_list(source, "groups.paid", grp.get("paid", list(DEFAULT_PAID)))
    passive = _str_list(source, "groups.passive", grp.get("passive", list(DEFAULT_PASSIVE)))
    for key, names in (("groups.paid", paid), ("groups.passive", passive)):
        for name in names:
            if name not in groups and name != ORGANIC:
                raise _fail(source, key, f"names {name!r}, which is not a channel group "
                            f"(groups: {', '.join(groups)}); define it under [channels] "
                            f"({name} = [\"glob\", ...]) or fix the name")

    lookback = dict(DEFAULT_LOOKBACK)
    for conv, days in _table(source, "lookback_days", raw).items():
        lookback[conv] = _number(source, f"lookback_days.{conv}", days)

    attribution = _table(source, "attribution", raw)
    half_life = _number(
        source, "attribution.half_life_days", attribution.get("half_life_days", 7.0), 1e-9
    )
    thresholds = _table(source, "thresholds", raw)
    hv = _number(
        source, "thresholds.high_value_order_total",
        thresholds.get("high_value_order_total", 200.0),
    )
    targets: dict[str, dict[str, float]] = {}
    for label, table in _table(source, "targets", raw).items():
        if not isinstance(table, dict):
            raise _fail(source, f"targets.{label}", "must be a table of kpi = number")
        targets[str(label)] = {
            k: _number(source, f"targets.{label}.{k}", v, float("-inf")) for k, v in table.items()
        }
    currency = raw.get("currency", "")
    if not isinstance(currency, str):
        raise _fail(source, "currency", 'must be a string such as "CNY"')
    engine = _table(source, "engine", raw)
    threads = engine.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise _fail(source, "engine.threads", "must be a whole number >= 1")
    memory_limit = engine.get("memory_limit")
    if memory_limit is not None and not isinstance(memory_limit, str):
        raise _fail(source, "engine.memory_limit", 'must be a string such as "2GB"')
    lifecycle = _table(source, "lifecycle", raw)
    return Config(
        timezone=tz,
        currency=currency,
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
