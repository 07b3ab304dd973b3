"""The ``grainseg`` command-line interface (also ``python -m grainseg_core``).

Sub-commands::

    grainseg predict IMAGE... [--model M.safetensors ... | --ensemble] --out DIR [--pixel-size-um S]
                     [--threshold T] [--post-config post.json] [--tta flips] [--tile N]
    grainseg stats BOUNDARY_PNG [--pixel-size-um S] [--out DIR]
    grainseg export-dataset IMAGES_DIR LABELS_DIR --out DIR [--size 256] [--split by_image]
    grainseg train --config cfg.json --out runs/ [--resume RUN_DIR]   (grainseg_core.training)
    grainseg cv --config cfg.json --folds 5 --out runs/               (grainseg_core.training)

Every :class:`GrainsegError` is printed as one plain line on stderr (``grainseg: error:
...``) with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grainseg_core import __version__
from grainseg_core.errors import ConfigError, GrainsegError, InputError, ModelError

__all__ = ["main", "build_parser"]


def _echo(message: str) -> None:
    """Progress and results for people go to stderr; stdout stays machine-readable."""
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- predict


def _post_config(path: str | None, threshold: float | None, recommended: Any = None) -> Any:
    """PostprocessConfig from a JSON file, else the model card's recommendation, with
    ``--threshold`` on top."""
    from grainseg_core.postprocess import PostprocessConfig

    options: dict[str, Any] = {}
    if path is None and recommended is not None:
        options = dataclasses.asdict(recommended)
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"post-processing config '{file}' does not exist.")
        try:
            options = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"post-processing config '{file}' is not valid JSON: {exc}") from exc
        if not isinstance(options, dict):
            raise ConfigError(f"post-processing config '{file}' must hold a JSON object.")
        known = {f.name for f in dataclasses.fields(PostprocessConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"post-processing config '{file}' has unknown keys {unknown}; valid keys: "
                f"{', '.join(sorted(known))}."
            )
    if threshold is not None:
        options["threshold"] = threshold
    try:
        return PostprocessConfig(**options)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, GrainsegError):
            raise
        raise ConfigError(f"invalid post-processing options: {exc}") from exc


def _model_paths(given: list[str] | None, ensemble: bool = False) -> list[Path]:
    from grainseg_core.inference import DEFAULT_MODEL_PATH
    from grainseg_core.zoo import models_dir, recommended_ensemble

    if ensemble:
        if given:
            raise InputError("give either --ensemble or --model, not both.")
        members = recommended_ensemble()
        if not members:
            raise ModelError(
                f"the model zoo {models_dir()} has no ensemble partner of the default model "
                "(a card with the role 'ensemble'); repeat --model to average models of your own."
            )
        return [e.path for e in members]
    if given:
        return [Path(p) for p in given]
    if not DEFAULT_MODEL_PATH.is_file():
        raise ModelError(
            f"no --model given and the default model {DEFAULT_MODEL_PATH} does not exist; "
            "pass --model PATH.safetensors (a model saved by grainseg training)."
        )
    return [DEFAULT_MODEL_PATH]


def _cmd_predict(args: argparse.Namespace) -> int:
    from grainseg_core.inference import load_model, save_segmentation, segment
    from grainseg_core.io import read_image
    from grainseg_core.postprocess import recommended_postprocess

    images = [Path(p) for p in args.images]
    stems = [p.stem for p in images]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise InputError(
            f"several input images share the name {dupes}; their results would overwrite "
            "each other in --out. Run them separately or rename them."
        )
    models = [
        load_model(p, device=args.device, precision=args.precision)
        for p in _model_paths(args.model, args.ensemble)
    ]
    post = _post_config(
        args.post_config, args.threshold,
        recommended_postprocess(models[0].card, model_name=models[0].name),
    )
    out = Path(args.out)
    for k, path in enumerate(images, start=1):
        image, meta = read_image(path)
        if args.pixel_size_um is not None:
            pixel, source = args.pixel_size_um, "argument"
        else:
            pixel = meta.pixel_size_um
            source = f"image metadata ({meta.pixel_size_source})" if pixel else None
        result = segment(
            image, models, pixel_size_um=pixel, post=post, tta=args.tta,
            tile=args.tile, overlap=args.overlap,
        )
        files = save_segmentation(
            result, out, stem=path.stem, probability=args.save_probability,
            extra={"image": str(path), "pixel_size_source": source},
        )
        summary = result.summary(astm=False)
        ecd = summary["mean_ecd_um"]
        size = f"mean ECD {ecd:.3g} um" if ecd is not None else (
            f"mean ECD {summary['mean_ecd_px']:.3g} px" if summary["mean_ecd_px"] else "no grains"
        )
        _echo(
            f"[{k}/{len(images)}] {path.name}: {result.n_grains} grains, {size} "
            f"({result.timings['total']:.2f} s) -> {files['summary'].parent}"
        )
    return 0


# ----------------------------------------------------------------------------- stats


def _cmd_stats(args: argparse.Namespace) -> int:
    from grainseg_core._inference_summary import summarize_grains
    from grainseg_core._validation import check_pixel_size
    from grainseg_core.grains import grain_table
    from grainseg_core.io import read_image

    path = Path(args.boundary)
    image, meta = read_image(path)
    pixel = check_pixel_size(args.pixel_size_um if args.pixel_size_um is not None
                             else meta.pixel_size_um, "--pixel-size-um")
    # A boundary map is bright lines on black (as grainseg writes it); --invert for dark lines.
    level = image.max() / 2 if image.size else 0
    boundary = (image <= level) if args.invert else (image > level)
    if args.min_size_px < 0:
        raise InputError(f"--min-size-px must be >= 0; got {args.min_size_px}.")
    table = grain_table(boundary, pixel_size_um=pixel, min_size_px=args.min_size_px,
                        exclude_edge=args.exclude_edge)
    summary = {
        "boundary_file": str(path),
        "image_shape": list(boundary.shape),
        "pixel_size_um": pixel,
        **summarize_grains(table, boundary, pixel_size_um=pixel),
        "min_size_px": args.min_size_px,
        "exclude_edge": bool(args.exclude_edge),
    }
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out '{out}' is a file; give a folder.")
    csv_path, json_path = out / f"{path.stem}_grains.csv", out / f"{path.stem}_stats.json"
    text = json.dumps(summary, indent=2, allow_nan=False)
    try:
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(csv_path, index=False)
        json_path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"could not write the results to '{out}': {exc.strerror or exc}.") from exc
    print(text)
    _echo(f"{path.name}: {len(table)} grains -> {csv_path}, {json_path}")
    return 0


# ----------------------------------------------------------------------------- export


def _cmd_export(args: argparse.Namespace) -> int:
    from grainseg_core.patching import PatchConfig, export_dataset, pairs_from_folders

    try:
        config = PatchConfig(
            size=args.size, stride=args.stride, median=args.median, clahe=args.clahe,
            min_label_fraction=args.min_label_fraction, split=args.split,
            val_fraction=args.val_fraction, test_fraction=args.test_fraction,
            n_folds=args.n_folds, seed=args.seed, normalize=args.normalize,
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, GrainsegError):
            raise
        raise ConfigError(f"invalid dataset options: {exc}") from exc
    pairs = pairs_from_folders(
        args.images_dir, args.labels_dir, foreground=args.foreground, target=args.target,
        pixel_size_um=args.pixel_size_um, group_pattern=args.group_pattern,
        strict=not args.skip_unpaired,
    )
    manifest = export_dataset(
        pairs, args.out, config, overwrite=args.overwrite,
        progress=lambda done, total: _echo(f"exported {done}/{total} images"),
    )
    for warning in manifest.warnings:
        _echo(f"warning: {warning}")
    print(json.dumps({"dataset": str(args.out), **manifest.counts}, indent=2))
    return 0


# ----------------------------------------------------------------------------- parser


def _add_predict(subparsers: argparse._SubParsersAction) -> None:
    from grainseg_core.inference import (
        DEFAULT_OVERLAP,
        DEFAULT_TILE,
        DEVICES,
        PRECISIONS,
        TTA_MODES,
    )

    p = subparsers.add_parser(
        "predict",
        help="Segment micrographs: boundary PNG, labels TIFF, grain CSV, summary JSON.",
        description="Segment micrographs with a saved model (or an ensemble of several) and "
        "write, per image, <stem>_boundary.png, <stem>_labels.tif, <stem>_grains.csv and "
        "<stem>_summary.json into --out.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG/BMP/TIFF micrographs.")
    p.add_argument("--model", action="append", metavar="PATH",
                   help="A .safetensors model (with its .json card); repeat for an ensemble. "
                   "Default: models/default.safetensors.")
    p.add_argument("--ensemble", action="store_true",
                   help="Average the zoo's default model with its ensemble partner: the most "
                   "accurate grain sizes, one more network pass per image.")
    p.add_argument("--out", required=True, metavar="DIR", help="Output folder (created).")
    p.add_argument("--pixel-size-um", type=float, default=None, metavar="UM",
                   help="Micrometres per pixel (default: from the image metadata, if any).")
    p.add_argument("--threshold", type=float, default=None,
                   help="Boundary probability threshold (default: the one the model card "
                   "recommends, chosen on validation images; 0.5 for a card without one).")
    p.add_argument("--post-config", default=None, metavar="JSON",
                   help="PostprocessConfig options as a JSON object (threshold, "
                   "closing_radius, gap_close_px, min_grain_size, ...), replacing the "
                   "post-processing the model card recommends.")
    p.add_argument("--tta", default="none", choices=TTA_MODES, help="Test-time augmentation.")
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help="Tile side in pixels.")
    p.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help="Tile overlap (px).")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--precision", default="auto", choices=PRECISIONS)
    p.add_argument("--save-probability", action="store_true",
                   help="Also write <stem>_probability.tif (and _uncertainty.tif).")
    p.set_defaults(handler=_cmd_predict)


def _add_stats(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "stats",
        help="Grain table and ASTM E112 G of a boundary map.",
        description="Measure the grains of a boundary map (white lines on black, as "
        "'grainseg predict' writes them): writes <stem>_grains.csv and <stem>_stats.json "
        "into --out and prints the summary JSON.",
    )
    p.add_argument("boundary", metavar="BOUNDARY_PNG", help="Boundary map image.")
    p.add_argument("--pixel-size-um", type=float, default=None, metavar="UM",
                   help="Micrometres per pixel (needed for um columns and ASTM G).")
    p.add_argument("--out", default=".", metavar="DIR", help="Output folder (default: here).")
    p.add_argument("--invert", action="store_true", help="Boundaries are dark on bright.")
    p.add_argument("--min-size-px", type=int, default=0, help="Drop smaller grains.")
    p.add_argument("--exclude-edge", action="store_true", help="Drop grains on the frame.")
    p.set_defaults(handler=_cmd_stats)


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    from grainseg_core.io import NORMALIZE_METHODS
    from grainseg_core.patching import SPLIT_METHODS

    p = subparsers.add_parser(
        "export-dataset",
        help="Cut image + label folders into a training dataset folder with a split.",
        description="Pair images with same-named labels, cut them into patches, split them "
        "(by image by default) and write a dataset folder with manifest.json.",
    )
    p.add_argument("images_dir", metavar="IMAGES_DIR")
    p.add_argument("labels_dir", metavar="LABELS_DIR",
                   help="Boundary maps (or masks with --target mask), same file stems.")
    p.add_argument("--out", required=True, metavar="DIR", help="Dataset folder to write.")
    p.add_argument("--size", type=int, default=256, help="Patch side (px).")
    p.add_argument("--stride", type=int, default=None, help="Patch step (default: --size).")
    p.add_argument("--split", default="by_image", choices=SPLIT_METHODS)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--test-fraction", type=float, default=0.1)
    p.add_argument("--n-folds", type=int, default=3, help="Folds of the CV splits.")
    p.add_argument("--median", type=int, default=0, help="Median filter size (0 = none).")
    p.add_argument("--clahe", action="store_true", help="Local histogram equalisation.")
    p.add_argument("--normalize", default="percentile", choices=NORMALIZE_METHODS)
    p.add_argument("--min-label-fraction", type=float, default=0.0)
    p.add_argument("--target", default="boundary", choices=("boundary", "mask"))
    p.add_argument("--foreground", default="white", choices=("white", "black"),
                   help="Colour of the label pixels in LABELS_DIR.")
    p.add_argument("--pixel-size-um", type=float, default=None, metavar="UM")
    p.add_argument("--group-pattern", default=None, metavar="REGEX",
                   help="Keep images whose stems share this regex group on one side.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-unpaired", action="store_true",
                   help="Skip images without labels (and labels without images).")
    p.add_argument("--overwrite", action="store_true", help="Replace a dataset in --out.")
    p.set_defaults(handler=_cmd_export)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="grainseg",
        description="Grain-boundary segmentation and grain statistics for micrographs.",
    )
    parser.add_argument("--version", action="version", version=f"grainseg {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_predict(subparsers)
    _add_stats(subparsers)
    _add_export(subparsers)
    # Imported here: training pulls in its own stack, and owns its sub-commands.
    from grainseg_core.training.cli import add_subcommands

    add_subcommands(subparsers)
    return parser


def _show_warning(
    message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any
) -> None:
    """Warnings as one plain line each, like the errors."""
    text = " ".join(str(message).split())
    print(f"grainseg: warning: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    # Readers log their own complaints (tifffile: "contains no pages") before grainseg turns
    # them into one clear error; on a terminal they would only add noise.
    tiff_log = logging.getLogger("tifffile")
    level = tiff_log.level
    tiff_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return int(handler(args) or 0)
    except GrainsegError as exc:
        # One line, whatever the message holds: a UI or a script reads it as is.
        message = " ".join(str(exc).split())
        print(f"grainseg: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("grainseg: interrupted", file=sys.stderr)
        return 130
    finally:
        tiff_log.setLevel(level)
