"""Reporting periods (SPEC §5): ``2025Q3``, ``2025-08``, ``2025-W32``, ``2025-08-15``, from/to.

A period is a closed range of local dates. ``previous()`` is the period of the same kind just
before (环比, QoQ); ``last_year()`` the same period a year earlier (同比, YoY).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from campaign_roi.errors import UserError

_FORMS = "2025Q3, 2025-08, 2025-W32, 2025-08-15 or --from/--to dates"


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive
    kind: str  # quarter | month | week | day | range
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        if self.kind == "quarter":
            q = (self.start.month - 1) // 3 + 1
            y, q = (self.start.year, q - 1) if q > 1 else (self.start.year - 1, 4)
            return quarter(y, q)
        if self.kind == "month":
            y, m = (self.start.year, self.start.month - 1) if self.start.month > 1 else (
                self.start.year - 1, 12)
            return month(y, m)
        if self.kind == "week":
            return week_of(self.start - timedelta(days=7))
        if self.kind == "day":
            return day(self.start - timedelta(days=1))
        n = timedelta(days=self.days)
        return date_range(self.start - n, self.end - n)

    def last_year(self) -> Period:
        if self.kind == "quarter":
            return quarter(self.start.year - 1, (self.start.month - 1) // 3 + 1)
        if self.kind == "month":
            return month(self.start.year - 1, self.start.month)
        if self.kind == "week":
            iso = self.start.isocalendar()
            try:
                return week(iso.year - 1, iso.week)
            except UserError:  # week 53 in a year of 52 weeks
                return week(iso.year - 1, 52)
        if self.kind == "day":
            return day(_minus_year(self.start))
        return date_range(_minus_year(self.start), _minus_year(self.end))

    def contains(self, d: date) -> bool:
        return self.start <= d <= self.end


def _minus_year(d: date) -> date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)


def quarter(year: int, q: int) -> Period:
    start = date(year, 3 * q - 2, 1)
    end = (date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)) - timedelta(days=1)
    return Period(start, end, "quarter", f"{year}Q{q}")


def month(year: int, m: int) -> Period:
    start = date(year, m, 1)
    end = (date(year + 1, 1, 1) if m == 12 else date(year, m + 1, 1)) - timedelta(days=1)
    return Period(start, end, "month", f"{year}-{m:02d}")


def week(year: int, w: int) -> Period:
    try:
        start = date.fromisocalendar(year, w, 1)
    except ValueError as exc:
        raise UserError(f"period {year}-W{w:02d}: {year} has no ISO week {w}") from exc
    return Period(start, start + timedelta(days=6), "week", f"{year}-W{w:02d}")


def week_of(d: date) -> Period:
    iso = d.isocalendar()
    return week(iso.year, iso.week)


def day(d: date) -> Period:
    return Period(d, d, "day", d.isoformat())


def date_range(start: date, end: date) -> Period:
    if end < start:
        raise UserError(f"--to {end} is before --from {start}; swap them")
    return Period(start, end, "range", f"{start.isoformat()}..{end.isoformat()}")


def parse_date(text: str, option: str = "date") -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise UserError(f"{option} {text!r} is not a date; use YYYY-MM-DD") from exc


def parse_period(text: str | None, start: str | None = None, end: str | None = None) -> Period:
    """Parse ``--period`` or ``--from/--to`` (both inclusive local dates)."""
    if text and (start or end):
        raise UserError("give either --period or --from/--to, not both")
    if not text:
        if not (start and end):
            raise UserError(f"a period is needed: --period ({_FORMS})")
        return date_range(parse_date(start, "--from"), parse_date(end, "--to"))
    t = text.strip().upper()
    try:
        if m := re.fullmatch(r"(\d{4})-?Q([1-4])", t):
            return quarter(int(m[1]), int(m[2]))
        if m := re.fullmatch(r"(\d{4})-W(\d{1,2})", t):
            return week(int(m[1]), int(m[2]))
        if m := re.fullmatch(r"(\d{4})-(\d{2})", t):
            return month(int(m[1]), int(m[2]))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
            return day(date.fromisoformat(t))
    except ValueError as exc:
        raise UserError(f"--period {text!r}: {exc}") from exc
    raise UserError(f"--period {text!r} is not a period; use {_FORMS}")
