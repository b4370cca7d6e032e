"""Presentation: page models, display tables, formatting, charts and CSV export (no Streamlit)."""
