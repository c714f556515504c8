"""The price sources by the ``price_source`` setting's words, the check of ``price_area``, and
the run's :class:`~tap_wattivahti.prices.book.PriceBook` built from the settings."""

from __future__ import annotations

import typing as t

from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.prices.base import unknown_area
from tap_wattivahti.prices.book import PriceBook
from tap_wattivahti.prices.elering import EleringSource
from tap_wattivahti.prices.entsoe import EntsoeSource
from tap_wattivahti.transport import Http

if t.TYPE_CHECKING:
    import logging

    from tap_wattivahti.prices.base import PriceSource
    from tap_wattivahti.settings import Settings

#: ``price_source`` → the source; a new source is one more module and one more entry here.
SOURCES: dict[str, type[PriceSource]] = {
    EleringSource.name: EleringSource,
    EntsoeSource.name: EntsoeSource,
}
#: The ``price_source`` that asks for no price at all.
NO_SOURCE = "none"
CHOICES = (*SOURCES, NO_SOURCE)


def checked_area(source: str, area: str) -> str:
    """``area`` as the ``price_area`` of ``source`` (upper case), or a clear error."""
    if source not in CHOICES:
        msg = (
            f"The price_source setting {source!r} is not a price source: set it to "
            f"{', '.join(CHOICES[:-1])} or {CHOICES[-1]} (none asks for no price at all)."
        )
        raise TapWattiVahtiError(msg)
    normal = area.strip().upper()
    kind = SOURCES.get(source)
    if kind is not None and kind.area_code(normal) is None:
        raise unknown_area(kind, area)
    return normal


def open_book(settings: Settings, logger: logging.Logger) -> PriceBook:
    """The run's price book: asking the ``price_source`` (no source for ``none``), with the
    tap's request deadline and retries."""
    kind = SOURCES.get(settings.prices.source)
    if kind is None:
        return PriceBook(None)
    http = Http(
        timeout_seconds=settings.request_timeout_seconds,
        max_retries=settings.max_retries,
        retry_wait_seconds=settings.retry_wait_seconds,
        logger=logger,
    )
    return PriceBook(kind.from_settings(settings.prices, http))
