"""SmartEnergy's driving side: dashboard, command line and HTTP API."""
