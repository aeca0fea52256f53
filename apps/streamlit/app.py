"""The SEMS analyst UI (`streamlit run apps/streamlit/app.py`): routes to the pages in `app_pages/`."""

import streamlit as st

st.set_page_config(page_title="SEMS", page_icon=":material/bolt:", layout="wide")
page = st.navigation([
    st.Page("app_pages/overview.py", title="Fleet overview", icon=":material/dashboard:", default=True),
    st.Page("app_pages/facility.py", title="Facility", icon=":material/monitoring:"),
    st.Page("app_pages/dr_events.py", title="DR events", icon=":material/bolt:"),
    st.Page("app_pages/data_quality.py", title="Data quality", icon=":material/fact_check:"),
    st.Page("app_pages/models.py", title="Models", icon=":material/model_training:"),
])
page.run()
