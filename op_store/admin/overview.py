"""The overview above the operations changelist: counts per state and seals per hour.

Both are aggregates over the whole table, so they are cached for :data:`CACHE_SECONDS` (per
database alias) in Django's default cache: reloading a changelist page does not re-scan a large
table every time, and a number a few seconds old is fine for a glance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from op_store.models import OperationQuerySet

from .chart import Bar, bar_chart_svg

CACHE_SECONDS = 30
HOURS = 24


@dataclass(frozen=True)
class Overview:
    """Counts per state (all states, zeros included), stale admissions, and hourly seal counts."""

    states: dict[str, int]
    stale: int
    hourly: list[tuple[datetime, int]]

    def chart(self) -> SafeString:
        bars = []
        for i, (start, count) in enumerate(self.hourly):
            local = timezone.localtime(start)
            tick = local.strftime("%H:00") if i % 6 == 0 else ""
            bars.append(Bar(f"{local:%Y-%m-%d %H:00}", count, tick))
        return bar_chart_svg(bars, title=_("Operations sealed per hour, last %(hours)d hours") % {"hours": HOURS})


def compute(queryset: OperationQuerySet, now: datetime | None = None) -> Overview:
    """Three grouped queries over ``queryset`` (the whole table, normally)."""
    now = (now or timezone.now()).astimezone(UTC)
    states = dict.fromkeys(("admitted", "sealed", "expired"), 0)
    for state, n in queryset.order_by().values("state").annotate(n=Count("pk")).values_list("state", "n"):
        states[state] = n
    stale = queryset.stale(now).count()
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=HOURS)
    per_hour: dict[datetime, int] = {}
    rows = (
        queryset.order_by()
        .filter(sealed_at__gte=start, sealed_at__lt=end)
        .annotate(hour=TruncHour("sealed_at", tzinfo=UTC))
        .values("hour")
        .annotate(n=Count("pk"))
        .values_list("hour", "n")
    )
    for hour, n in rows:
        per_hour[hour.astimezone(UTC)] = n
    hourly = [(start + timedelta(hours=i), per_hour.get(start + timedelta(hours=i), 0)) for i in range(HOURS)]
    return Overview(states, stale, hourly)


def _key(alias: str) -> str:
    return f"op_store:admin-overview:{alias}"


def cached(queryset: OperationQuerySet) -> Overview:
    """:func:`compute`, cached per database alias for :data:`CACHE_SECONDS`."""
    key = _key(queryset.db)
    found = cache.get(key)
    if isinstance(found, Overview):
        return found
    overview = compute(queryset)
    cache.set(key, overview, CACHE_SECONDS)
    return overview


def forget(alias: str) -> None:
    """Drop the cached overview (after the admin itself changed the counts)."""
    cache.delete(_key(alias))
