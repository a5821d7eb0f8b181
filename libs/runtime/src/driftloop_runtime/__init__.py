"""What every driftloop service shares: settings, broker, logging, HTTP health."""
