"""Shared pieces of the benchmark scripts: machine record, timers, JSON output.

Every ``bench/bench_*.py`` prints one JSON object with a ``"machine"`` entry made here. The
machine is shared (other jobs, other helpers), so the record holds the load average when the
bench started and when it ended, and says ``"busy": true`` when either 1-minute load reached
half the CPU count or more: wall times taken then measure the other jobs as much as the work.
Compare figures only between runs taken under similar load; where a bench reports process CPU
time too, that is the less load-sensitive figure.

Usage::

    machine = machine_info()
    timing = time_calls(lambda: work(x), repeats=5)
    print_report({"benchmark": "work", "work_s": round(timing.median_s, 4)}, machine)
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.spatial import cKDTree

__all__ = [
    "Timing",
    "best_of",
    "voronoi_cells",
    "finish_machine_info",
    "machine_info",
    "median_of",
    "print_report",
    "time_calls",
]

#: A 1-minute load average at or above this fraction of the CPU count marks the run as busy.
BUSY_LOAD_FRACTION = 0.5


def _load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def machine_info(**extra: Any) -> dict[str, Any]:
    """Record the machine and its load now, at the start of a benchmark.

    Parameters
    ----------
    **extra
        More entries to record (library versions, thread counts of other libraries).

    Returns
    -------
    dict
        ``cpu_count``, ``torch_threads``, ``python``, ``numpy``, ``torch``, ``machine``
        (processor name or architecture), ``load_average_start`` (1, 5 and 15 minutes),
        then ``extra``. Pass it to :func:`finish_machine_info` (or :func:`print_report`) at
        the end so that the load at the end and the busy flag are recorded too.
    """
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "load_average_start": _load_average(),
    }
    info.update(extra)
    return info


def finish_machine_info(info: dict[str, Any]) -> dict[str, Any]:
    """Add the load average at the end and the ``busy`` flag to a :func:`machine_info` record.

    ``busy`` is true when the 1-minute load at the start or the end was at least
    ``BUSY_LOAD_FRACTION`` of the CPU count; ``note`` then says what that means for the timings.
    Returns a new dict; ``info`` is left as it was.
    """
    out = dict(info)
    out["load_average_end"] = _load_average()
    cpus = out.get("cpu_count") or 1
    peak = max(out["load_average_start"][0], out["load_average_end"][0])
    out["busy"] = bool(peak >= BUSY_LOAD_FRACTION * cpus)
    if out["busy"]:
        out["note"] = (
            f"1-minute load up to {peak} on {cpus} CPUs: wall times include other jobs; "
            "compare only with runs under similar load"
        )
    return out


def print_report(
    result: dict[str, Any], machine: dict[str, Any], *, indent: int | None = None
) -> None:
    """Print ``result`` as one JSON object with the finished machine record under ``"machine"``.

    Call it last: the load average at the end is read here.
    """
    print(json.dumps({**result, "machine": finish_machine_info(machine)}, indent=indent))


@dataclass(frozen=True)
class Timing:
    """Wall and process-CPU seconds of repeated calls, and the last call's return value.

    The process CPU time counts every thread of this process (torch, OpenCV), so on a
    busy machine it stays close to the work itself while the wall time grows.
    """

    wall_s: tuple[float, ...]
    cpu_s: tuple[float, ...]
    result: Any

    @property
    def median_s(self) -> float:
        """Median wall time (s)."""
        return statistics.median(self.wall_s)

    @property
    def best_s(self) -> float:
        """Least wall time (s)."""
        return min(self.wall_s)

    @property
    def cpu_median_s(self) -> float:
        """Median process CPU time (s)."""
        return statistics.median(self.cpu_s)

    @property
    def cpu_best_s(self) -> float:
        """Least process CPU time (s)."""
        return min(self.cpu_s)


def time_calls(fn: Callable[[], Any], repeats: int, *, warmup: bool = True) -> Timing:
    """Call ``fn`` ``repeats`` times (after one untimed warm-up call if ``warmup``) and time each.

    Parameters
    ----------
    fn
        The work, without arguments.
    repeats
        Number of timed calls (at least 1).
    warmup
        Make one untimed call first (imports, page faults, kernel choice of oneDNN).

    Returns
    -------
    Timing
        Per-call wall and CPU seconds and the last return value.

    Example
    -------
    >>> time_calls(lambda: sum(range(10)), 3).result
    45
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    result = fn() if warmup else None
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return Timing(tuple(walls), tuple(cpus), result)


def median_of(fn: Callable[[], Any], repeats: int, *, warmup: bool = True) -> tuple[float, Any]:
    """Median wall seconds of ``repeats`` calls of ``fn`` and the last return value."""
    timing = time_calls(fn, repeats, warmup=warmup)
    return timing.median_s, timing.result


def best_of(fn: Callable[[], Any], repeats: int, *, warmup: bool = True) -> tuple[float, Any]:
    """Least wall seconds of ``repeats`` calls of ``fn`` and the last return value."""
    timing = time_calls(fn, repeats, warmup=warmup)
    return timing.best_s, timing.result


def voronoi_cells(
    shape: tuple[int, int], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A Voronoi tessellation of ``n`` uniform random sites, the bench's stand-in microstructure.

    Parameters
    ----------
    shape
        (M, N) of the grid.
    n
        Number of cells.
    rng
        Source of the sites (``n`` x 2 uniform draws are taken from it).

    Returns
    -------
    cells : np.ndarray
        int (M, N), the index of the nearest site of each pixel.
    boundary : np.ndarray
        bool (M, N), True on the pixel above / left of each cell change: 1-px boundaries.
    """
    pts = rng.uniform(0, 1, (n, 2)) * shape
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    _, idx = cKDTree(pts).query(np.c_[rr.ravel(), cc.ravel()], workers=-1)
    cells = idx.reshape(shape)
    boundary = np.zeros(shape, bool)
    boundary[:, :-1] |= cells[:, :-1] != cells[:, 1:]
    boundary[:-1, :] |= cells[:-1, :] != cells[1:, :]
    return cells, boundary
