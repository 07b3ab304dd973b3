"""Training runs: configuration, trainer, run folders, cross-validation, background processes.

* :class:`TrainConfig` / :func:`check_config`: what a run does, checked up front.
* :func:`train`: one run in a run folder (config, status, metrics, checkpoints), with
  stop (SIGTERM/SIGINT) and resume; :class:`Trainer` is its optimiser step.
* :func:`cross_validate`: one run per fold and a mean +- sd summary.
* :func:`launch_run`, :func:`stop_run`, :func:`resume_run`, :func:`list_runs`,
  :func:`read_metrics`, :func:`publish_run`: runs as background processes, for the dashboard.

Names are imported on first use, so ``import grainseg_core.training`` does not load torch.

Examples
--------
>>> from grainseg_core.training import TrainConfig
>>> TrainConfig(dataset="datasets/demo", epochs=3).epochs
3
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ["TrainConfig", "CheckedConfig", "check_config", "OPTIMIZERS", "SCHEDULES", "VAL_METRICS"],
        "config",
    ),
    **dict.fromkeys(["Trainer", "StepResult", "RunSummary", "train"], "trainer"),
    **dict.fromkeys(["Callback", "MetricMonitor", "StopSignals"], "callbacks"),
    **dict.fromkeys(["CVSummary", "cross_validate", "evaluate_model_on_split"], "cv"),
    **dict.fromkeys(
        [
            "RunInfo",
            "launch_run",
            "stop_run",
            "resume_run",
            "run_info",
            "list_runs",
            "read_metrics",
            "publish_run",
        ],
        "process",
    ),
    **dict.fromkeys(
        ["make_run_id", "create_run_dir", "read_status", "is_run_dir", "iter_metric_records"],
        "runs",
    ),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'grainseg_core.training' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"grainseg_core.training.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
