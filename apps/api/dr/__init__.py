"""Demand-response intake of the API: webhook signatures, event payloads, the inbox transaction."""
