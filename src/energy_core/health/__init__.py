"""Health: an analysis of the stored readings (share flagged, detection quality) and the
installation's state with its hysteresis (Normal / Precaución / Crítico)."""
