"""The SEMS analyst UI (`streamlit run apps/streamlit/app.py`): routes to the pages in `app_pages/`."""

import streamlit as st

st.set_page_config(page_title="SEMS", page_icon=":material/bolt:", layout="wide")
page = st.navigation([st.Page("app_pages/live.py", title="Live load", icon=":material/monitoring:", default=True)])
page.run()
