"""Admin lists: a page number from the address bar (clamped rather than refused), one page of a
query, and typed search text made safe to query with."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

from app.extensions import db

T = TypeVar("T")
PER_PAGE = 25


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    number: int
    pages: int
    total: int

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def page_number(value: Any) -> int:
    """`?page=` as typed: anything that is not a positive whole number means the first page
    (a hand-edited address is not worth an error page)."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return 1
    return max(number, 1)


def paginate(
    query: Select,
    number: int,
    build: Callable[[Sequence[Any]], list[T]],
    per_page: int = PER_PAGE,
) -> Page[T]:
    """One page of `query` (already ordered), its result rows turned into `build(rows)`; a
    number past the end shows the last page."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max(1, -(-int(total or 0) // per_page))
    number = min(max(number, 1), pages)
    rows = db.session.execute(query.limit(per_page).offset((number - 1) * per_page)).all()
    return Page(build(rows), number, pages, int(total or 0))


def clean_text(value: str, limit: int) -> str:
    """Typed search text made safe to query with: trimmed, bounded, without NUL characters
    (PostgreSQL refuses them in strings; no address or name holds one)."""
    return value.replace("\x00", "").strip()[:limit]
