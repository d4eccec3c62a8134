"""One small handler per command and query."""
