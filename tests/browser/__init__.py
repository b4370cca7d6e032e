"""Browser tests: headless Chromium (Debian's) driving `streamlit run app.py`."""
