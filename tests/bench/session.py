"""A bench run as a test runs it: in a session of its own."""

import os
import signal
import subprocess


def run_alone(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run a bench to its end. If it hangs, its whole process group is killed: the
    contenders it started with it, which would otherwise live on and take the next
    tests' messages from the shared queues."""
    bench = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = bench.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(bench.pid, signal.SIGKILL)
        stdout, stderr = bench.communicate()
    return subprocess.CompletedProcess(bench.args, bench.returncode, stdout, stderr)
