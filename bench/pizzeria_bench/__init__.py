"""`pizzeria-bench`: the worker against hand-written aio-pika + pymongo, side by side.

Every contender runs as its own process on the same broker and database, and
every figure is read as a ratio to a contender of the same run: these
machines are shared and noisy, and the local database is no MongoDB.
Also `python -m pizzeria_bench.rebuild`: a read model's rebuild while queries run.
It lives outside the worker and the client, and imports both. See docs/performance.md.
"""
