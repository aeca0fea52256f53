"""Trusted archives of the time series (S5) and the DR audit log (M5): Parquet per day, manifests, verify, restore."""
