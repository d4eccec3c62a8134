"""Fault injection: the worker, RabbitMQ and the database fail under load; nothing is lost."""
