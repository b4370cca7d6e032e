"""Analytics: pure Polars metrics over request frames (every number and series a page shows)."""
