"""Entry points: RabbitMQ subscribers that hand messages to the mediator."""
