"""Country names for ISO codes (pycountry), shared by enrichment and the request details."""
from __future__ import annotations

from functools import lru_cache

import pycountry


@lru_cache(maxsize=512)
def country_name(code: str | None) -> str:
    """'DE' → 'Germany'. Unknown codes are returned as given; no code gives 'Unknown'."""
    if not code:
        return "Unknown"
    country = pycountry.countries.get(alpha_2=code.upper())
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name
