"""The hand-written contenders: the smallest aio-pika + pymongo code that keeps the
worker's guarantees, run as `python -m pizzeria_bench.baseline place|rpc ...`.

They import nothing from the worker: they are what the worker replaces.
"""
