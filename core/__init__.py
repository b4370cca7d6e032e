"""Clientele core: storage, ingestion, enrichment and analytics. Never imports Streamlit."""
