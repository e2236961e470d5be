"""What a device source gives the edge agent (`base`), and the registry of source types (`registry`)."""
