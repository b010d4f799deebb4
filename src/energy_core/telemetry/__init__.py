"""Telemetry: what meters send and how it becomes readings."""
