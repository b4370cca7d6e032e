"""Clientele's entry point: page config, sign-in, then the navigation of the signed-in user's role."""
import streamlit as st

from ui import nav, session

st.set_page_config(page_title="Clientele", page_icon=":material/monitoring:", layout="wide")
# Before anything slow (the demo bootstrap of a fresh server): our hidden navigation replaces the list
# of pages/ file names Streamlit shows until a script calls st.navigation. sign_in replaces it in turn.
nav.visitor_navigation()
user = session.sign_in()
nav.navigation_for(user).run()
