"""The pizzeria's domain: pure Python, no I/O, no framework."""
