"""The shared sidebar of ``app.py``: model choice (zoo or upload), pixel size, help.

Sidebar widgets are drawn on every page, so their values persist across page switches;
they are also copied into :mod:`ui.state` so pages read them through one accessor.

An uploaded model is a ``.safetensors`` weights file and its ``.json`` card with the same
stem. The pair is written to a content-addressed folder under the system temp folder (the
core loads models from paths) and loaded once to check it: a pickled file, a mismatched
card or broken weights give a plain message and the earlier model choice stays.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import streamlit as st

from grainseg_core.errors import ModelError
from grainseg_core.zoo import ZooEntry, list_models, recommended_ensemble
from ui import state
from ui.cache import load_model_cached
from ui.errors import logged_message

__all__ = ["render_sidebar", "upload_folder", "save_model_upload"]

_W_MODELS = "gs_w_models"
_W_UPLOAD = "gs_w_model_upload"
_W_PIXEL = "gs_w_pixel_size"
_UPLOADED = "gs_uploaded_models"  # label -> .safetensors path
_UPLOAD_MSG = "gs_model_upload_message"  # (level, text)
_UPLOAD_PREFIX = "upload: "


def upload_folder() -> Path:
    """Where uploaded model pairs are written (shared, content-addressed)."""
    return Path(tempfile.gettempdir()) / "grainseg_uploaded_models"


def save_model_upload(files: list[tuple[str, bytes]]) -> Path:
    """Write an uploaded ``.safetensors`` + ``.json`` pair and return the weights path.

    Parameters
    ----------
    files : list of (file name, content)
        The uploaded files; exactly one ``.safetensors`` and one ``.json``.

    Returns
    -------
    Path
        ``<folder>/<stem>.safetensors`` with ``<stem>.json`` beside it, in a folder named
        by the hash of both files (so the same upload from two sessions is one file).

    Raises
    ------
    ModelError
        Not exactly one weights file and one card, or files of another kind (pickled
        ``.pt`` / ``.pth`` checkpoints are never loaded).
    """
    weights = [(n, b) for n, b in files if n.lower().endswith(".safetensors")]
    cards = [(n, b) for n, b in files if n.lower().endswith(".json")]
    others = [n for n, _ in files if not n.lower().endswith((".safetensors", ".json"))]
    if others:
        raise ModelError(
            f"uploaded model file(s) {', '.join(others)} are neither .safetensors weights nor a "
            ".json card; grainseg never loads pickled checkpoints (.pt, .pth, .ckpt). Save the "
            "model with grainseg_core.nets.save_model and upload both files it writes."
        )
    if len(weights) != 1 or len(cards) != 1:
        raise ModelError(
            f"upload exactly one .safetensors weights file and its .json card; got "
            f"{len(weights)} weights file(s) and {len(cards)} card(s)."
        )
    stem = Path(weights[0][0]).stem
    digest = hashlib.sha256(weights[0][1] + b"\0" + cards[0][1]).hexdigest()[:16]
    folder = upload_folder() / digest
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.safetensors"
    if not path.is_file():
        # The card is written first: the weights' appearance marks a complete pair.
        (folder / f"{stem}.json").write_bytes(cards[0][1])
        path.write_bytes(weights[0][1])
    return path


def _on_model_upload() -> None:
    """Save, check and select an uploaded pair (runs before the script reruns)."""
    uploads = st.session_state.get(_W_UPLOAD) or []
    if not uploads:
        return
    files = [(f.name, f.getvalue()) for f in uploads]
    path = None
    try:
        path = save_model_upload(files)
        model = load_model_cached(path)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message; state is kept
        message = logged_message(exc, "loading the uploaded model")
        if path is not None:  # name the user's file, not the server's copy of it
            message = message.replace(str(path), f"'{path.name}'").replace("''", "'")
        st.session_state[_UPLOAD_MSG] = ("error", message)
        return
    label = f"{_UPLOAD_PREFIX}{model.name}"
    uploaded = dict(st.session_state.get(_UPLOADED, {}))
    uploaded[label] = str(path)
    st.session_state[_UPLOADED] = uploaded
    chosen = [c for c in st.session_state.get(_W_MODELS, []) if c != label]
    st.session_state[_W_MODELS] = [*chosen, label] if chosen else [label]
    st.session_state[_UPLOAD_MSG] = ("success", f"Model '{model.name}' loaded and selected.")


def _model_options(entries: list[ZooEntry]) -> tuple[list[str], dict[str, Path], dict[str, str]]:
    """Option labels, label -> path, label -> display title."""
    paths: dict[str, Path] = {}
    titles: dict[str, str] = {}
    for e in entries:
        paths[e.name] = e.path
        roles = f" ({', '.join(e.roles)})" if e.roles else ""
        titles[e.name] = f"{e.title}{roles}" if e.title != e.name else f"{e.name}{roles}"
    for label, path in st.session_state.get(_UPLOADED, {}).items():
        paths[label] = Path(path)
        titles[label] = label
    return list(paths), paths, titles


def _model_section() -> None:
    entries = list_models(state.models_root())
    options, paths, titles = _model_options(entries)
    if not options:
        st.info(
            f"No model in the zoo: {state.models_root()} holds no <name>.safetensors + "
            "<name>.json pair. The Segment page shows the bundled sample's traced boundaries; "
            "train and publish a model (Training page) or upload one below."
        )
    # Drop choices that no longer exist (a model removed from the zoo) before the widget
    # is drawn, so the stored selection stays valid.
    if _W_MODELS in st.session_state:
        st.session_state[_W_MODELS] = [c for c in st.session_state[_W_MODELS] if c in paths]
    default = options[:1]
    chosen = st.multiselect(
        "Models (choose several for an ensemble)",
        options,
        default=default if _W_MODELS not in st.session_state else None,
        format_func=lambda label: titles.get(label, label),
        key=_W_MODELS,
        help="One model segments the image; several are averaged and their disagreement "
        "is shown as an uncertainty map.",
    )
    state.set_selected_model_paths([paths[c] for c in chosen])
    _ensemble_button(chosen, recommended_ensemble(entries=entries))
    with st.expander("Upload a model (.safetensors + .json)"):
        st.file_uploader(
            "Weights and card",
            type=["safetensors", "json"],
            accept_multiple_files=True,
            key=_W_UPLOAD,
            on_change=_on_model_upload,
            help="The two files grainseg_core.nets.save_model writes. Pickled checkpoints "
            "(.pt, .pth) are refused: unpickling can run code.",
        )
        message = st.session_state.get(_UPLOAD_MSG)
        if message:
            (st.error if message[0] == "error" else st.success)(message[1])


def _heyn_error(entry: ZooEntry, key: str) -> float | None:
    """A held-out Heyn error from a card's evaluation (None when the card has none)."""
    try:
        return float(entry.card["evaluation"][key]["summary"]["heyn_mean_rel_error"])
    except (KeyError, TypeError, ValueError):
        return None


def _use_models(names: list[str]) -> None:
    st.session_state[_W_MODELS] = names


def _ensemble_button(chosen: list[str], members: list[ZooEntry]) -> None:
    """Offer the zoo's recommended ensemble (the default and its partners) when not chosen."""
    names = [e.name for e in members]
    if not members or chosen == names:
        return
    alone = _heyn_error(members[0], "tbm_nested_cv_postprocess")
    together = _heyn_error(members[-1], "tbm_nested_cv_ensemble")
    figures = (
        f" Grain-size (Heyn) error on held-out micrographs: {together:.1%} instead of "
        f"{alone:.1%} for '{names[0]}' alone." if alone is not None and together is not None else ""
    )
    st.button(
        "Most accurate: ensemble of " + " + ".join(names),
        key="gs_w_use_ensemble",
        on_click=_use_models,
        args=(names,),
        help=f"Averages the models' boundary probabilities, about {len(names)}x the time of one "
        f"model.{figures}",
    )


def _pixel_section() -> None:
    st.number_input(
        "Pixel size override (µm/px, 0 = from the file)",
        min_value=0.0,
        max_value=1000.0,
        value=None if _W_PIXEL in st.session_state else (state.pixel_size_override() or 0.0),
        step=0.001,
        format="%.5f",
        key=_W_PIXEL,
        help="SEM TIFFs usually state their pixel size; type one here for PNG/JPEG files or "
        "to correct it. Sizes in µm and ASTM G need it.",
    )
    state.set_pixel_size_override(st.session_state.get(_W_PIXEL) or None)


def render_sidebar() -> None:
    """Draw the shared sidebar and copy its values into :mod:`ui.state`."""
    with st.sidebar:
        _model_section()
        _pixel_section()
        with st.expander("About grainseg"):
            st.markdown(
                "grainseg finds grain boundaries in SEM micrographs with networks trained on "
                "EBSD-derived labels and measures the grains (ECD, aspect ratio, ASTM G).\n\n"
                "- **Segment**: upload a micrograph, tune the post-processing, correct by hand, "
                "download the results.\n"
                "- **Grain statistics**: distributions, fits, comparisons, ASTM methods.\n"
                "- **Dataset builder**, **Training**, **Compare models**: build data, train "
                "and compare networks.\n\n"
                "Uploaded files stay on this server; nothing is sent elsewhere."
            )
