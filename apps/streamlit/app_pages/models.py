"""Models: the MLflow champion of `load_forecaster`, its backtest metrics and feature importance, a link to MLflow."""

import streamlit as st

from apps.streamlit import data, data_ops
from apps.streamlit.freshness import ago, live, safely

st.title("Models")
mlflow_url = data.settings().mlflow_url
st.link_button("Open MLflow", mlflow_url)


def models() -> None:
    champion: dict[str, object] | None = safely(data_ops.champion, None)
    if champion is None:
        st.info(f"No `{data_ops.MODEL_NAME}` version is aliased `champion` yet (or MLflow did not answer); "
                "forecasts come from the four-week-average fallback until one is.")
        return
    st.subheader(f"{data_ops.MODEL_NAME} v{champion['version']} (champion)")
    st.caption(f"registered {ago(champion['registered_at'])} · run {champion['run_id']} · "  # type: ignore[arg-type]
               f"read from MLflow {ago(champion['read_at'])}")  # type: ignore[arg-type]
    metrics = champion["metrics"]
    if metrics:
        st.dataframe([{"metric": k, "value": v} for k, v in sorted(metrics.items())], hide_index=True)  # type: ignore[attr-defined]
    importance = champion["importance"]
    if importance:
        st.markdown("**Feature importance** (gain, top 15)")
        top = sorted(importance.items(), key=lambda kv: -kv[1])[:15]  # type: ignore[attr-defined]
        st.bar_chart({"feature": [k for k, _ in top], "gain": [v for _, v in top]}, x="feature", y="gain",
                     horizontal=True)
    st.markdown(f"[This version in MLflow]({mlflow_url}/#/models/{data_ops.MODEL_NAME}/versions/{champion['version']})")


live(models)
