"""grainseg_core: grain-boundary segmentation and grain statistics for micrographs.

The engine behind the grainseg dashboard; it never imports streamlit. Public names
are re-exported here and imported lazily on first use, so ``import grainseg_core``
stays cheap (PyTorch loads only when a network or dataset is touched).

Examples
--------
>>> import grainseg_core as gs
>>> sample = gs.load_sample("nist_steel")
>>> table = gs.grain_table(sample.boundary, pixel_size_um=sample.pixel_size_um)
>>> int(table.shape[0]) > 100
True
"""

from __future__ import annotations

import importlib
from typing import Any

from grainseg_core.errors import GrainsegError, GrainsegWarning

__version__ = "0.1.0"

# name -> submodule that defines it (imported on first attribute access).
_LAZY: dict[str, str] = {
    # images and annotations
    **dict.fromkeys(
        [
            "ImageMeta", "read_image", "normalize_image", "normalization_levels", "normalize_to_levels",
            "write_mask", "write_labels",
            "write_image", "Polygon", "ImageAnnotations", "AnnotationSet", "RowProblem",
            "read_polygon_csv", "write_polygon_csv", "read_coco_polygons", "polygons_to_mask",
            "annotation_masks", "mask_to_polygons",
        ],
        "grainseg_core.io",
    ),
    **dict.fromkeys(["EBSDMap", "EBSDPhase", "read_ebsd"], "grainseg_core.io.ebsd"),
    # synthetic data and samples
    **dict.fromkeys(
        [
            "SyntheticConfig", "Microstructure", "make_microstructure", "Particles",
            "make_particles", "write_particles_csv",
        ],
        "grainseg_core.synthetic",
    ),
    **dict.fromkeys(["SampleInfo", "Sample", "list_samples", "load_sample"], "grainseg_core.samples"),
    # grains, post-processing, metrics, statistics
    **dict.fromkeys(["GRAIN_TABLE_COLUMNS", "label_grains", "grain_table"], "grainseg_core.grains"),
    **dict.fromkeys(
        ["PostprocessConfig", "PostprocessResult", "postprocess", "run_postprocess", "grains_from_boundary",
         "recommended_postprocess"],
        "grainseg_core.postprocess",
    ),
    **dict.fromkeys(
        [
            "confusion_counts", "pixel_metrics", "adjusted_rand_index", "variation_of_information",
            "grain_count_error", "hd95", "boundary_widths", "evaluate_segmentation",
        ],
        "grainseg_core.metrics",
    ),
    **dict.fromkeys(
        [
            "InterceptConfig", "GrainSizeResult", "intercept_grain_size", "planimetric_grain_size",
            "area_grain_size", "field_statistics",
        ],
        "grainseg_core.astm",
    ),
    **dict.fromkeys(
        [
            "DistributionFit", "fit_distribution", "fit_sizes", "fit_aspect_ratio",
            "js_distance_pdfs", "js_distance_histograms", "ks_two_sample", "summary_statistics",
            "filter_min_size", "compare_samples",
        ],
        "grainseg_core.distributions",
    ),
    **dict.fromkeys(
        [
            "confusion_overlay", "boundary_overlay", "label_overlay", "probability_overlay",
            "difference_overlay", "blend_overlay", "checkerboard_overlay", "edge_overlay",
        ],
        "grainseg_core.overlays",
    ),
    # EBSD labels, registration, datasets
    **dict.fromkeys(
        ["GBConfig", "EBSDBoundaries", "classify_boundaries", "rasterize_boundaries", "rasterize_labels"],
        "grainseg_core.ebsd",
    ),
    **dict.fromkeys(
        ["RegistrationConfig", "RegistrationResult", "register", "warp_label", "measure_alignment"],
        "grainseg_core.registration",
    ),
    **dict.fromkeys(["drift_magnitude", "drift_vectors", "drift_summary"], "grainseg_core.drift"),
    **dict.fromkeys(
        ["ImagePair", "PatchConfig", "Manifest", "export_dataset", "read_manifest", "pair_from_arrays",
         "pairs_from_folders", "pairs_from_annotations"],
        "grainseg_core.patching",
    ),
    **dict.fromkeys(["AugmentConfig", "augment_pair"], "grainseg_core.augment"),
    **dict.fromkeys(["GrainDataset", "list_datasets"], "grainseg_core.datasets"),
    # networks and losses
    **dict.fromkeys(
        ["build_model", "list_architectures", "architecture_info", "count_parameters", "save_model",
         "load_model_file", "read_model_card"],
        "grainseg_core.nets",
    ),
    **dict.fromkeys(["build_loss", "list_losses", "TopoLoss"], "grainseg_core.losses"),
    **dict.fromkeys(
        ["ZooEntry", "list_models", "find_model", "default_model", "comparison_pair"], "grainseg_core.zoo"
    ),
    # inference, training, evaluation
    **dict.fromkeys(
        ["LoadedModel", "SegmentationResult", "load_model", "predict_tiled", "predict_probability",
         "predict_ensemble", "segment", "save_segmentation"],
        "grainseg_core.inference",
    ),
    **dict.fromkeys(
        ["TrainConfig", "RunInfo", "RunSummary", "train", "cross_validate", "launch_run", "stop_run",
         "resume_run", "list_runs", "read_metrics", "publish_run"],
        "grainseg_core.training",
    ),
    **dict.fromkeys(
        ["evaluate_boundaries", "summarize_by_group", "choose_threshold"], "grainseg_core.evaluation"
    ),
    **dict.fromkeys(["compare_models", "gap_closures", "ModelComparison"], "grainseg_core.compare"),
    **dict.fromkeys(["rebuild_masks", "read_annotation_file"], "grainseg_core.rebuild"),
    **dict.fromkeys(["correct_label", "read_ebsd_files"], "grainseg_core.ebsd_labels"),
}

__all__ = ["GrainsegError", "GrainsegWarning", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'grainseg_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
