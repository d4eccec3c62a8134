"""Infrastructure: MongoDB and RabbitMQ behind the application's ports."""
