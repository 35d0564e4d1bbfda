"""``odrec bench``: latency, throughput and memory of the on-device runtime on this machine.

Each measurement unit (one catalogue size and thread count, the cold start, one backend…) runs in a fresh
subprocess, so the peak RSS reported for it is its own and one crash cannot take the run down. Stores built
for the catalogue sizes are cached in the work directory. Ctrl-C stops the run and still writes what was
measured. Report medians, percentiles and ratios: absolute times on shared machines are noisy.

``config`` (what to measure), ``stats`` (percentiles, rows, comparisons), ``machine`` (what it ran on),
``synthetic`` (catalogues and users), ``workers`` (the measurements, run in subprocesses), ``runner``
(orchestration), ``report`` (Markdown, JSON, plots).
"""

from ..errors import BenchError
from .config import SCENARIOS, BenchConfig
from .machine import machine_info
from .report import markdown, plot, write_outputs
from .runner import SCHEMA, available_backends, run_bench
from .stats import compare, percentiles, result

__all__ = [
    "SCENARIOS",
    "SCHEMA",
    "BenchConfig",
    "BenchError",
    "available_backends",
    "compare",
    "machine_info",
    "markdown",
    "percentiles",
    "plot",
    "result",
    "run_bench",
    "write_outputs",
]
