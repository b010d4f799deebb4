"""Adapters implementing energy_core's ports: in memory, PostgreSQL and model storage."""
