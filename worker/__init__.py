"""Mario's Pizzeria order worker: a CQRS service on RabbitMQ and MongoDB."""
