"""The contract suite reuses the end-to-end suite's worker process for the Node.js example."""

from tests.e2e.conftest import worker, worker_env

__all__ = ["worker", "worker_env"]
