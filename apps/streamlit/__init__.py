"""streamlit package."""
