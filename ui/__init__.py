"""Streamlit glue shared by app.py and pages/: sign-in, the page guard and the navigation registry."""
