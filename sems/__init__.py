"""SEMS shared kernel: settings, domain types, resilience primitives, store clients, stack control."""
