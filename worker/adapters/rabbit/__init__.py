"""RabbitMQ adapters: topology, publishing of events, replies and dead letters."""
