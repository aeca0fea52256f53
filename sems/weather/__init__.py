"""Weather for forecasting (C5): HTTP providers, an offline TMY replay, failover and a last-good cache."""
