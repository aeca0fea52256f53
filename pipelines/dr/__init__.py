"""Demand response in Dagster: the inbox sensor, the dispatch/release jobs and the saga they run."""
