"""What a device source gives the edge agent, and the registry of source types."""
