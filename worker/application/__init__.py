"""Use cases: the mediator, its pipeline, one handler per message, ports."""
