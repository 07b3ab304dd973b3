"""Dataset builder, section (c): patch export of the built pairs into a dataset folder.

The pairs of sections (a) and (b) are cut, split and written by
:func:`grainseg_core.patching.export_dataset` into ``<datasets root>/<name>``
(:func:`ui.state.datasets_root`), which the Training page lists.
"""

from __future__ import annotations

import re
import time

import pandas as pd
import streamlit as st

from grainseg_core.datasets import list_datasets
from grainseg_core.errors import InputError
from grainseg_core.patching import (
    SPLIT_METHODS,
    ImagePair,
    PatchConfig,
    export_dataset,
    pair_from_arrays,
)
from ui import state
from ui.dataset_annotations import rebuilt_record
from ui.dataset_display import digest
from ui.dataset_ebsd import ebsd_record
from ui.errors import user_errors

__all__ = ["DATASET_NAME_RE", "available_pairs", "render_export_section", "render_dataset_list"]

#: Dataset folder names: one plain folder under the datasets root, never a path.
DATASET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SPLIT_HELP = {
    "by_image": "whole images to train / val / test (no test pixel seen in training)",
    "random_patch": "patches at random (seed 000; leaky: neighbours share grains)",
    "column_cv": "k-fold cross-validation by patch columns (seed 004)",
    "kfold_by_image": "k-fold cross-validation over whole images",
}


def available_pairs() -> dict[str, list[ImagePair]]:
    """The pairs built in this session, by source label."""
    out: dict[str, list[ImagePair]] = {}
    override = state.pixel_size_override()
    rebuilt = rebuilt_record()
    if rebuilt is not None:
        res = rebuilt.result
        n = len(res.masks)
        out[
            f"Polygon {res.target}s from {rebuilt.annotation_name} "
            f"({n} image{'s' if n != 1 else ''})"
        ] = res.pairs(pixel_size_um=override)
    ebsd = ebsd_record()
    if ebsd is not None:
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", ebsd.sem_name.rsplit(".", 1)[0]) or "sem"
        pair = pair_from_arrays(
            ebsd.sem,
            ebsd.result.corrected,
            name=stem,
            pixel_size_um=ebsd.result.pixel_size_um,
            target="boundary",
            source={"kind": "ebsd", "sem": ebsd.sem_name, "label": ebsd.label_name},
        )
        out[f"EBSD label of {ebsd.sem_name} (drift corrected)"] = [pair]
    return out


def render_dataset_list() -> None:
    """The datasets already in the datasets root."""
    found = list_datasets(state.datasets_root())
    if not found:
        st.caption(f"No dataset in `{state.datasets_root()}` yet.")
        return
    rows = [
        {
            "dataset": d.name,
            "patches": d.n_patches,
            "patch px": d.patch_size,
            "target": d.target,
            "split": d.split + (" (leaky)" if d.leaky else ""),
            "sources": d.n_sources,
            "train/val/test": " | ".join(
                f"{c.get('train', 0)}/{c.get('val', 0)}/{c.get('test', 0)}" for c in d.counts
            ),
            "created": d.created,
        }
        for d in found
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="ds_list")


def render_export_section() -> None:
    """Source choice, patch options, the export itself and the list of datasets."""
    sources = available_pairs()
    if not sources:
        st.info(
            "Build masks in section (a) or a corrected EBSD label in section (b) first; "
            "they appear here as sources to export."
        )
        render_dataset_list()
        return
    st.markdown("Sources")
    # One checkbox per source, keyed by the source: a source built later starts ticked
    # (a multiselect would keep its earlier selection and leave the new source out).
    chosen = [
        label
        for label in sources
        if st.checkbox(label, value=True, key=f"ds_exp_src_{digest(label)}")
    ]
    pairs = [p for label in chosen for p in sources[label]]
    n_images = len(pairs)
    smallest = min((min(p.shape) for p in pairs), default=256)
    with st.form("ds_export"):
        c1, c2, c3 = st.columns(3)
        # The default name is set once: a changing default would reset what the user typed.
        st.session_state.setdefault("ds_exp_name", f"dataset-{time.strftime('%Y%m%d-%H%M%S')}")
        name = c1.text_input(
            "Dataset name", key="ds_exp_name", help="A folder name: letters, digits, '_', '-', '.'."
        )
        sizes = [s for s in (64, 128, 256, 512) if s <= smallest] or [32]
        size = c2.selectbox(
            "Patch size (px)",
            sizes,
            index=len(sizes) - 1 if sizes[-1] <= 256 else sizes.index(256),
            key="ds_exp_size",
        )
        stride = c3.number_input(
            "Stride (px, 0 = patch size)", value=0, min_value=0, step=16, key="ds_exp_stride"
        )
        s1, s2, s3, s4 = st.columns(4)
        splits = list(SPLIT_METHODS)
        split = s1.selectbox(
            "Split",
            splits,
            index=0 if n_images >= 3 else splits.index("random_patch"),
            format_func=lambda s: f"{s}: {_SPLIT_HELP[s]}",
            key="ds_exp_split",
        )
        val = s2.number_input(
            "Validation fraction",
            value=0.15,
            min_value=0.0,
            max_value=0.9,
            step=0.05,
            key="ds_exp_val",
        )
        test = s3.number_input(
            "Test fraction", value=0.15, min_value=0.0, max_value=0.9, step=0.05, key="ds_exp_test"
        )
        folds = s4.number_input(
            "Folds (cross-validation)", value=3, min_value=2, max_value=20, key="ds_exp_folds"
        )
        p1, p2, p3, p4 = st.columns(4)
        median = p1.selectbox("Median filter", [0, 3, 5], key="ds_exp_median")
        clahe = p2.checkbox("CLAHE", key="ds_exp_clahe")
        min_frac = p3.number_input(
            "Min. label fraction per patch",
            value=0.0,
            min_value=0.0,
            max_value=1.0,
            step=0.01,
            key="ds_exp_minfrac",
        )
        overwrite = p4.checkbox("Replace a dataset of that name", key="ds_exp_overwrite")
        go = st.form_submit_button("Export patches", type="primary")
    if go:
        with user_errors("exporting the dataset"):
            if not DATASET_NAME_RE.match(name.strip()):
                raise InputError(
                    f"dataset name {name!r} is not a plain folder name; use letters, digits, "
                    "'_', '-', '.' "
                    "(at most 64, no '/')."
                )
            if not pairs:
                raise InputError("choose at least one source to export.")
            config = PatchConfig(
                size=int(size),
                stride=int(stride) or None,
                split=split,
                val_fraction=val,
                test_fraction=test,
                n_folds=int(folds),
                median=int(median),
                clahe=bool(clahe),
                min_label_fraction=float(min_frac),
            )
            bar = st.progress(0.0, text="Exporting...")
            out = state.datasets_root() / name.strip()
            manifest = export_dataset(
                pairs,
                out,
                config,
                overwrite=overwrite,
                progress=lambda d, t: bar.progress(
                    min(1.0, d / max(t, 1)), text=f"Image {d} of {t}"
                ),
            )
            bar.empty()
            counts = ", ".join(f"{k} {v}" for k, v in manifest.counts["folds"][0].items())
            st.success(f"Exported **{len(manifest.patches)} patches** to `{out}` ({counts}).")
            for w in manifest.warnings:
                st.warning(w)
            st.page_link(
                "pages/4_training.py",
                label="Train on it: open the Training page",
                icon=":material/model_training:",
            )
    st.markdown("##### Datasets")
    render_dataset_list()
