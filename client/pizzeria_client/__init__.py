"""A client of Mario's Pizzeria order service over AMQP, on aio-pika.

`pizzeria_client.client.PizzeriaClient` (the async RPC client), `pizzeria_client.cli`
(the `pizzeria` command), `pizzeria_client.deadletters` (the dead-letter tool) and
`pizzeria_client.load` (the load generator). The messages they carry are
`pizzeria_contracts`'s. Nothing is imported here, so `pizzeria --help` loads no aio-pika.
"""
