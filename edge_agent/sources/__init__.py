"""Device sources: each turns one kind of device into readings the agent publishes."""
