"""The resolutions the API answers in, and the ``resolution`` setting's choice between them."""

from __future__ import annotations

QUARTER_HOURLY = "PT15MIN"
HOURLY = "PT1H"
#: The ``resolution`` setting's default: 15-minute values where they exist, hourly before.
AUTO = "auto"
