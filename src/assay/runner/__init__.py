"""Model runners: every loaded model in a child process of its own.

A model that crashes, leaks or is killed for memory takes nothing else with it, its memory
goes back when it is unloaded, and its threads do not share the server's GIL. `client.py`
is the parent's side (an Engine and a LoadedModel), `child.py` the runner process, and
`protocol.py` what they say to each other over a socket pair.
"""

from assay.runner.client import SPARES, RunnerEngine, RunnerModel, RunnerSpec, describe_exit
from assay.runner.protocol import PROTOCOL_VERSION, RunnerStats
from assay.runner.usage import ProcessUsage, process_usage

__all__ = [
    "PROTOCOL_VERSION",
    "SPARES",
    "ProcessUsage",
    "RunnerEngine",
    "RunnerModel",
    "RunnerSpec",
    "RunnerStats",
    "describe_exit",
    "process_usage",
]
