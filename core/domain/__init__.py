"""Domain: scope, time windows, settings, shared constants and errors. Imports nothing else of core."""
