"""The Training page's form: dataset, architecture, loss, schedule, device -> a started run.

The form builds a :class:`grainseg_core.training.TrainConfig` and hands it to
:func:`grainseg_core.training.launch_run`, which checks it against the machine (dataset
folder, patch size, device) before anything is written. A config that cannot run (lr <= 0,
a patch larger than the dataset's patches, CUDA asked for on a CPU machine...) raises
:class:`~grainseg_core.errors.ConfigError`; the message is shown and nothing starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from grainseg_core.datasets import DatasetSummary
from grainseg_core.errors import ConfigError
from ui import state
from ui.errors import user_errors

__all__ = ["BASE_LOSSES", "loss_spec", "cuda_status", "render_training_form", "SELECTED_RUN"]

#: Session key of the run shown by the run monitor (a run id; the run itself lives on disk).
SELECTED_RUN = "tr_selected_run"
#: Base pixel losses offered, label -> registry name.
BASE_LOSSES = {"Weighted BCE": "bce", "Dice": "dice", "Focal": "focal"}


def loss_spec(
    base: str,
    *,
    pos_weight: float = 9.0,
    focal_gamma: float = 2.0,
    topo_lambda: float | None = None,
    skeleton_weight: float | None = None,
) -> dict[str, Any]:
    """The ``TrainConfig.loss`` mapping of the form's choices.

    Examples
    --------
    >>> loss_spec("bce", pos_weight=9, topo_lambda=0.04)["terms"]
    [{'name': 'bce', 'pos_weight': 9.0}, {'name': 'topo', 'weight': 0.04}]
    """
    if base == "bce":
        terms: list[dict[str, Any]] = [{"name": "bce", "pos_weight": float(pos_weight)}]
    elif base == "focal":
        terms = [{"name": "focal", "gamma": float(focal_gamma)}]
    else:
        terms = [{"name": base}]
    if topo_lambda is not None:
        terms.append({"name": "topo", "weight": float(topo_lambda)})
    if skeleton_weight is not None:
        terms.append({"name": "skeleton_recall", "weight": float(skeleton_weight)})
    return {"terms": terms}


@st.cache_resource(show_spinner=False)
def cuda_status() -> tuple[bool, str]:
    """Whether PyTorch sees a CUDA GPU, and its name (checked once per server)."""
    import torch

    if torch.cuda.is_available():
        return True, torch.cuda.get_device_name(0)
    return False, ""


def _describe(ds: DatasetSummary) -> str:
    folds = f", {ds.n_folds} folds" if ds.n_folds > 1 else ""
    return (
        f"{ds.name}: {ds.n_patches} patches of {ds.patch_size} px, {ds.target}, {ds.split}{folds}"
    )


def _architectures() -> list[str]:
    from grainseg_core.nets import list_architectures

    return list(list_architectures())


def render_training_form(datasets: list[DatasetSummary]) -> Path | None:
    """Draw the form; on "Start training" build the config and launch the run.

    Parameters
    ----------
    datasets : list of DatasetSummary
        The datasets to choose from (:func:`grainseg_core.datasets.list_datasets`).

    Returns
    -------
    Path or None
        The new run's folder when a run was started by this rerun.
    """
    if not datasets:
        st.info(
            f"No dataset yet in `{state.datasets_root()}`. Build one on the **Dataset builder** "
            "page (section *Export patches*), then come back here."
        )
        return None
    by_path = {d.path: d for d in datasets}
    has_cuda, gpu = cuda_status()
    with st.form("tr_form"):
        st.markdown("#### New run")
        c1, c2, c3 = st.columns(3)
        ds_path = c1.selectbox(
            "Dataset", list(by_path), format_func=lambda p: _describe(by_path[p]), key="tr_dataset"
        )
        ds = by_path[ds_path]
        archs = _architectures()
        arch = c2.selectbox(
            "Architecture",
            archs,
            index=archs.index("slim_unet") if "slim_unet" in archs else 0,
            key="tr_arch",
        )
        devices = ["auto", "cpu", "cuda"]
        device = c3.selectbox(
            "Device",
            devices,
            key="tr_device",
            help="auto: the GPU when PyTorch sees one, else the CPU.",
        )
        c3.caption(
            f"CUDA: {'available (' + gpu + ')' if has_cuda else 'not available on this machine'}"
        )

        l1, l2, l3 = st.columns(3)
        base_label = l1.selectbox("Pixel loss", list(BASE_LOSSES), key="tr_loss")
        pos_weight = l1.number_input(
            "BCE boundary weight",
            value=9.0,
            min_value=0.0,
            step=1.0,
            key="tr_pos_weight",
            help="Weight of boundary pixels in weighted BCE (seed 000: 9).",
        )
        gamma = l1.number_input("Focal gamma", value=2.0, min_value=0.0, step=0.5, key="tr_gamma")
        use_topo = l2.checkbox(
            "+ TopoLoss", key="tr_topo", help="Persistent-homology loss on the grains (seed 000)."
        )
        topo_lambda = l2.number_input(
            "TopoLoss lambda",
            value=0.04,
            min_value=0.0,
            step=0.01,
            format="%.3f",
            key="tr_topo_lambda",
        )
        use_skel = l3.checkbox("+ Skeleton Recall", key="tr_skel")
        skel_w = l3.number_input(
            "Skeleton Recall weight", value=1.0, min_value=0.0, step=0.1, key="tr_skel_w"
        )

        h1, h2, h3, h4 = st.columns(4)
        epochs = h1.number_input("Epochs", value=20, min_value=1, step=1, key="tr_epochs")
        # No lower bound here: lr <= 0 must reach the core's check and its message.
        lr = h2.number_input("Learning rate", value=1e-3, step=1e-4, format="%.5f", key="tr_lr")
        batch = h3.number_input("Batch size", value=8, min_value=1, step=1, key="tr_batch")
        patch = h4.number_input(
            "Patch size (px)",
            value=int(ds.patch_size),
            min_value=8,
            step=16,
            key="tr_patch",
            help=f"At most the dataset's {ds.patch_size} px.",
        )
        fold = None
        if ds.n_folds > 1:
            fold = st.number_input(
                "Cross-validation fold",
                value=0,
                min_value=0,
                max_value=ds.n_folds - 1,
                key="tr_fold",
            )
        with st.expander("Advanced"):
            a1, a2, a3 = st.columns(3)
            name = a1.text_input("Run name", value="", key="tr_name")
            arch_json = a1.text_input(
                "Architecture options (JSON)",
                value="{}",
                key="tr_arch_kwargs",
                help='e.g. {"base_width": 16, "depth": 4}',
            )
            schedule = a2.selectbox(
                "LR schedule", ["cosine", "constant", "step", "plateau"], key="tr_schedule"
            )
            patience = a2.number_input(
                "Early-stopping patience (0 = off)", value=10, min_value=0, key="tr_patience"
            )
            max_steps = a3.number_input(
                "Max steps per epoch (0 = all)", value=0, min_value=0, key="tr_max_steps"
            )
            threads = a3.number_input(
                "CPU threads (0 = default)", value=0, min_value=0, key="tr_threads"
            )
            seed = a3.number_input("Seed", value=0, min_value=0, key="tr_seed")
        start = st.form_submit_button("Start training", type="primary")
    if not start:
        return None
    with user_errors("starting the training run"):
        try:
            arch_kwargs = json.loads(arch_json or "{}")
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f'architecture options must be JSON, e.g. {{"base_width": 16}}: {exc}.'
            ) from exc
        if not isinstance(arch_kwargs, dict):
            raise ConfigError(
                'architecture options must be a JSON object, e.g. {"base_width": 16}.'
            )
        from grainseg_core.training import TrainConfig, launch_run

        config = TrainConfig(
            dataset=ds.path,
            fold=int(fold) if fold is not None else None,
            architecture=arch,
            arch_kwargs=arch_kwargs,
            loss=loss_spec(
                BASE_LOSSES[base_label],
                pos_weight=pos_weight,
                focal_gamma=gamma,
                topo_lambda=topo_lambda if use_topo else None,
                skeleton_weight=skel_w if use_skel else None,
            ),
            lr=float(lr),
            epochs=int(epochs),
            batch_size=int(batch),
            patch_size=int(patch),
            schedule=schedule,
            patience=int(patience) or None,
            max_steps_per_epoch=int(max_steps) or None,
            num_threads=int(threads) or None,
            seed=int(seed),
            device=device,
            name=name.strip(),
        )
        run_dir = launch_run(config, state.runs_root())
        st.session_state[SELECTED_RUN] = run_dir.name
        st.success(
            f"Run **{run_dir.name}** started in the background; it keeps running if you close "
            "the tab."
        )
        return run_dir
    return None
