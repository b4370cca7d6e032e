"""Clientele's entry point: page config, sign-in, then the navigation of the signed-in user's role."""
import streamlit as st

from ui import nav, session

st.set_page_config(page_title="Clientele", page_icon=":material/monitoring:", layout="wide")
user = session.sign_in()
nav.navigation_for(user).run()
