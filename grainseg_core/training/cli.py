"""The ``train`` and ``cv`` sub-commands of ``grainseg``.

:func:`add_subcommands` is called by :func:`grainseg_core.cli.build_parser`; each
sub-parser sets ``handler``, a function ``(args) -> int``. The same commands run as
``python -m grainseg_core.training.cli train|cv ...``.

Examples::

    grainseg train --config cfg.json --out runs/
    grainseg train --resume runs/20250101-120000-slim_unet-1a2b
    grainseg cv --config cfg.json --folds 5 --out runs/

Exit status: 0 when the run finished or was stopped (SIGTERM/SIGINT: it saved and can be
resumed), 2 on a grainseg error (one line on stderr; ``status.json`` says ``failed``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from grainseg_core.errors import ConfigError, GrainsegError

__all__ = ["add_subcommands", "main"]


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` and ``cv`` sub-commands to ``subparsers``.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers`` returned.
    """
    train = subparsers.add_parser(
        "train",
        help="Train a boundary model from a config file (or resume a run).",
        description="Train a network; the run folder gets config, status, metrics and checkpoints.",
    )
    train.add_argument("--config", help="TrainConfig JSON file (optional with --resume).")
    train.add_argument("--out", default="runs", help="Folder of run folders (default: runs).")
    train.add_argument(
        "--resume", metavar="RUN_DIR", help="Continue this run from its last checkpoint."
    )
    train.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], help="Override the config's device."
    )
    train.add_argument(
        "--run-id", help="Run folder name (default: YYYYmmdd-HHMMSS-<arch>-<short>)."
    )
    train.add_argument("--quiet", action="store_true", help="No per-epoch lines on stdout.")
    train.set_defaults(handler=_cmd_train)

    cv = subparsers.add_parser(
        "cv",
        help="K-fold cross-validation: one run per fold and a summary.",
        description="Cross-validate on a dataset exported with kfold_by_image or column_cv.",
    )
    cv.add_argument("--config", help="TrainConfig JSON file (optional with --resume).")
    cv.add_argument("--folds", type=int, help="Run the first N folds (default: all).")
    cv.add_argument("--out", default="runs", help="Folder of run folders (default: runs).")
    cv.add_argument("--resume", metavar="CV_DIR", help="Continue this cross-validation.")
    cv.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], help="Override the config's device."
    )
    cv.add_argument("--quiet", action="store_true", help="No per-epoch lines on stdout.")
    cv.set_defaults(handler=_cmd_cv)


def _load_config(args: argparse.Namespace) -> Any:
    from grainseg_core.training.config import TrainConfig

    cfg = TrainConfig.from_json(args.config) if args.config else None
    if cfg is not None and args.device:
        cfg = cfg.replace(device=args.device)
    return cfg


def _printer(quiet: bool) -> list[Any]:
    from grainseg_core.training.callbacks import Callback

    class _EpochLines(Callback):
        def on_epoch_end(self, record: Mapping[str, Any]) -> None:
            keys = ("train_loss", "val_loss", "val_dice", "val_ari", "val_bf1")
            parts = [f"{k} {record[k]:.4f}" for k in keys if isinstance(record.get(k), float)]
            best = " *" if record.get("best") else ""
            print(
                f"epoch {record['epoch']}: "
                + ", ".join(parts)
                + f" ({record['time_s']:.1f} s){best}",
                flush=True,
            )

    return [] if quiet else [_EpochLines()]


def _cmd_train(args: argparse.Namespace) -> int:
    from grainseg_core.training.config import TrainConfig
    from grainseg_core.training.runs import create_run_dir
    from grainseg_core.training.trainer import train

    cfg = _load_config(args)
    if args.resume:
        run_dir = Path(args.resume)
        if cfg is None and args.device:
            cfg = TrainConfig.from_json(run_dir / "config.json").replace(device=args.device)
    else:
        if cfg is None:
            raise ConfigError("grainseg train needs --config FILE (or --resume RUN_DIR).")
        run_dir = create_run_dir(args.out, cfg, run_id=args.run_id)
    print(f"run folder: {run_dir}", flush=True)
    summary = train(cfg, run_dir, resume=bool(args.resume), callbacks=_printer(args.quiet))
    best = (
        "none"
        if summary.best_value is None
        else f"{summary.best_value:.4f} (epoch {summary.best_epoch})"
    )
    print(
        f"{summary.state}: {summary.reason}; {summary.steps_done}/{summary.total_steps} steps, "
        f"best {summary.monitor} {best}",
        flush=True,
    )
    return 0


def _cmd_cv(args: argparse.Namespace) -> int:
    from grainseg_core.training.config import TrainConfig
    from grainseg_core.training.cv import CV_FILE, cross_validate
    from grainseg_core.training.runs import read_json

    cfg = _load_config(args)
    if args.resume:
        cv_dir = Path(args.resume)
        stored = read_json(cv_dir / CV_FILE)
        if stored is None:
            raise ConfigError(f"'{cv_dir}' is not a cross-validation folder (no {CV_FILE}).")
        cfg = TrainConfig.from_dict(stored["config"])
        summary = cross_validate(cfg, runs_root=cv_dir.parent, cv_id=cv_dir.name, resume=True)
    else:
        if cfg is None:
            raise ConfigError("grainseg cv needs --config FILE (or --resume CV_DIR).")
        summary = cross_validate(cfg, runs_root=args.out, folds=args.folds)
    print(f"cv folder: {summary.cv_dir} ({summary.state})", flush=True)
    for row in summary.folds:
        test = row["test"]
        scores = ", ".join(f"{k} {test[k]:.4f}" for k in ("test_dice", "test_ari") if k in test)
        print(f"fold {row['fold']}: {row['state']}; {scores}", flush=True)
    for key in ("test_dice", "test_ari", "test_bf1"):
        if key in summary.mean:
            print(f"{key}: {summary.mean[key]:.4f} +- {summary.sd[key]:.4f}", flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """A stand-alone parser with only ``train`` and ``cv`` (for ``python -m``)."""
    parser = argparse.ArgumentParser(prog="grainseg", description="grainseg training commands.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_subcommands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``train`` or ``cv``; a grainseg error is one line on stderr and exit status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return int(handler(args) or 0)
    except GrainsegError as exc:
        print(f"grainseg: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grainseg: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
