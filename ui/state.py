"""Session-state keys and accessors shared by ``app.py`` and every page.

Streamlit drops a widget's state when the page that draws it is not shown, so everything
that must survive a page switch lives here under plain (non-widget) keys: the chosen
models, the pixel-size override, the image being worked on, the post-processing settings
and the last segmentation. Pages read and write these through the functions below, never
through raw ``st.session_state`` keys, so the names stay in one place.

Paths (``runs_root``, ``datasets_root``, ``models_root``) follow the environment
(``GRAINSEG_RUNS_DIR``, ``GRAINSEG_DATASETS_DIR``, ``GRAINSEG_MODELS_DIR``) so that tests
and deployments can point the app at other folders.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from grainseg_core.postprocess import PostprocessConfig
from grainseg_core.zoo import list_models, models_dir
from ui.postprocess_defaults import PostDefaults
from ui.postprocess_defaults import postprocess_defaults as _postprocess_defaults

if TYPE_CHECKING:  # importing inference loads torch; the type is only needed for hints
    from grainseg_core.inference import SegmentationResult

__all__ = [
    "KEYS",
    "CurrentImage",
    "SegmentationRecord",
    "REPO_ROOT",
    "image_key",
    "selected_model_paths",
    "set_selected_model_paths",
    "pixel_size_override",
    "set_pixel_size_override",
    "effective_pixel_size",
    "current_image",
    "set_current_image",
    "make_image",
    "set_current_record",
    "last_segmentation",
    "set_last_segmentation",
    "postprocess_defaults",
    "postprocess_config",
    "set_postprocess_config",
    "tta_mode",
    "set_tta_mode",
    "runs_root",
    "datasets_root",
    "models_root",
]

#: The repository root (the folder holding ``app.py``).
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class _Keys:
    """Names of the session-state entries owned by this module (all start with ``gs_``)."""

    model_paths: str = "gs_model_paths"
    pixel_size: str = "gs_pixel_size_override"
    current_image: str = "gs_current_image"
    last_segmentation: str = "gs_last_segmentation"
    postprocess: str = "gs_postprocess"
    tta: str = "gs_tta"


#: Session-state keys; pages that need their own keys prefix them with the page name.
KEYS = _Keys()


@dataclass(frozen=True, eq=False)
class CurrentImage:
    """The micrograph the user is working on, shared by every page.

    Attributes
    ----------
    name : str
        File or sample name (shown to the user, used for download file names).
    image : np.ndarray, shape (M, N)
        The micrograph in its native dtype (as :func:`grainseg_core.io.read_image` gives it).
    meta : dict
        What is known about it (format, bit depth, pixel size and its source...).
    key : str
        Content hash of ``image`` (cache key of everything computed from it).
    pixel_size_um : float or None
        Micrometres per pixel stated by the file or the sample, before any override.
    ground_truth : bool ndarray (M, N) or None
        A traced boundary mask that comes with the image (bundled samples).
    source : str
        ``"sample"`` or ``"upload"``.
    """

    name: str
    image: np.ndarray = field(repr=False)
    meta: dict[str, Any] = field(default_factory=dict, repr=False)
    key: str = ""
    pixel_size_um: float | None = None
    ground_truth: np.ndarray | None = field(default=None, repr=False)
    source: str = "upload"

    @property
    def shape(self) -> tuple[int, int]:
        """(M, N) of the image."""
        return int(self.image.shape[0]), int(self.image.shape[1])


@dataclass(frozen=True, eq=False)
class SegmentationRecord:
    """The Segment page's latest result, for the Statistics and Compare pages.

    Attributes
    ----------
    result : SegmentationResult
        Probability, boundary, labels, grain table (manual corrections applied).
    image_key : str
        :attr:`CurrentImage.key` of the image it belongs to.
    image_name : str
    source_label : str
        What produced it, in words: model names, or ``"traced boundaries"``.
    post : PostprocessConfig
        The post-processing settings used.
    tta : str
        Test-time augmentation used (``"none"``, ``"flips"``, ``"d4"``).
    n_corrections : int
        Manual correction strokes applied.
    """

    result: SegmentationResult
    image_key: str
    image_name: str
    source_label: str
    post: PostprocessConfig
    tta: str = "none"
    n_corrections: int = 0


def image_key(image: np.ndarray) -> str:
    """Content hash of an image (shape, dtype and pixels); a cache key.

    Examples
    --------
    >>> image_key(np.zeros((2, 2), np.uint8)) == image_key(np.zeros((2, 2), np.uint8))
    True
    """
    arr = np.ascontiguousarray(image)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{arr.shape}{arr.dtype.str}".encode())
    digest.update(memoryview(arr).cast("B"))
    return digest.hexdigest()


def _get(key: str, default: Any = None) -> Any:
    return st.session_state.get(key, default)


# --------------------------------------------------------------------------- models


def selected_model_paths() -> list[Path]:
    """The models chosen in the sidebar (``.safetensors`` paths); empty when none.

    Several paths mean an ensemble (mean probability, standard deviation as uncertainty).
    Before the sidebar has run (a page run on its own, as AppTest's ``switch_page`` does)
    this is the zoo's default model, so every page works without the sidebar.
    """
    if KEYS.model_paths not in st.session_state:
        entries = list_models(models_root())
        return [entries[0].path] if entries else []
    return [Path(p) for p in st.session_state[KEYS.model_paths]]


def set_selected_model_paths(paths: list[str | os.PathLike]) -> None:
    """Record the chosen models (called by the sidebar of ``app.py``)."""
    st.session_state[KEYS.model_paths] = [str(p) for p in paths]


# --------------------------------------------------------------------------- pixel size


def pixel_size_override() -> float | None:
    """The pixel size typed in the sidebar (um/px), or None to use the file's own."""
    value = _get(KEYS.pixel_size)
    return float(value) if value else None


def set_pixel_size_override(value: float | None) -> None:
    """Record the typed pixel size (None or 0 = use the file's metadata)."""
    st.session_state[KEYS.pixel_size] = float(value) if value else None


def effective_pixel_size(image: CurrentImage | None = None) -> float | None:
    """The override if typed, else the image's own pixel size, else None."""
    override = pixel_size_override()
    if override is not None:
        return override
    image = current_image() if image is None else image
    return image.pixel_size_um if image is not None else None


# --------------------------------------------------------------------------- image


def current_image() -> CurrentImage | None:
    """The image the user is working on, or None before any was chosen."""
    return _get(KEYS.current_image)


def set_current_image(
    name: str, image: np.ndarray, meta: dict[str, Any] | Any = None, **options: Any
) -> CurrentImage:
    """Make ``image`` the current image of this session and return its record.

    Takes the arguments of :func:`make_image` (``pixel_size_um``, ``ground_truth``,
    ``source`` as keywords).
    """
    return set_current_record(make_image(name, image, meta, **options))


def set_current_record(record: CurrentImage) -> CurrentImage:
    """Make an already built :class:`CurrentImage` (see :func:`make_image`) the current one."""
    st.session_state[KEYS.current_image] = record
    return record


def make_image(
    name: str,
    image: np.ndarray,
    meta: dict[str, Any] | Any = None,
    *,
    pixel_size_um: float | None = None,
    ground_truth: np.ndarray | None = None,
    source: str = "upload",
) -> CurrentImage:
    """Build a :class:`CurrentImage` (hash included) without changing the session.

    Parameters
    ----------
    name : str
    image : np.ndarray, shape (M, N)
    meta : dict or dataclass, optional
        :class:`grainseg_core.io.ImageMeta` (converted to a dict) or a plain dict.
    pixel_size_um : float, optional
        Default: ``meta["pixel_size_um"]`` when present.
    ground_truth : bool ndarray (M, N), optional
    source : {"sample", "upload"}
    """
    if meta is None:
        meta_dict: dict[str, Any] = {}
    elif isinstance(meta, dict):
        meta_dict = dict(meta)
    else:
        meta_dict = {k: getattr(meta, k) for k in getattr(meta, "__dataclass_fields__", {})}
    if pixel_size_um is None:
        pixel_size_um = meta_dict.get("pixel_size_um")
    return CurrentImage(
        name=str(name),
        image=image,
        meta=meta_dict,
        key=image_key(image),
        pixel_size_um=float(pixel_size_um) if pixel_size_um else None,
        ground_truth=ground_truth,
        source=source,
    )


# --------------------------------------------------------------------------- results


def last_segmentation() -> SegmentationRecord | None:
    """The Segment page's latest result (None before the first one)."""
    return _get(KEYS.last_segmentation)


def set_last_segmentation(record: SegmentationRecord) -> None:
    """Record the latest segmentation, so other pages can reuse it."""
    st.session_state[KEYS.last_segmentation] = record


@dataclass(frozen=True)
class _StoredPost:
    config: PostprocessConfig
    defaults_key: str  # PostDefaults.key the user's settings started from


def postprocess_defaults(model_paths: list[Path] | None = None) -> PostDefaults:
    """Where post-processing starts for ``model_paths`` (default: the chosen models).

    The first model's card recommendation, else ``PostprocessConfig()``; see
    :func:`ui.postprocess_defaults.postprocess_defaults`.
    """
    paths = selected_model_paths() if model_paths is None else model_paths
    return _postprocess_defaults(paths)


def postprocess_config(defaults: PostDefaults | None = None) -> PostprocessConfig:
    """The post-processing settings for the chosen models.

    The user's settings from the Segment page while the model choice they were made for
    stands; otherwise (first visit, another model chosen) the chosen model's card
    recommendation, else the defaults.

    Parameters
    ----------
    defaults : PostDefaults, optional
        :func:`postprocess_defaults` of the chosen models, when the caller has it already.
    """
    defaults = postprocess_defaults() if defaults is None else defaults
    stored = _get(KEYS.postprocess)
    if isinstance(stored, _StoredPost) and stored.defaults_key == defaults.key:
        return stored.config
    return defaults.config


def set_postprocess_config(config: PostprocessConfig, *, defaults_key: str) -> None:
    """Record the user's settings (the Segment page's controls) and the defaults they started
    from (:attr:`PostDefaults.key`)."""
    st.session_state[KEYS.postprocess] = _StoredPost(config, str(defaults_key))


def tta_mode() -> str:
    """Test-time augmentation of this session: ``"none"``, ``"flips"`` or ``"d4"``."""
    return str(_get(KEYS.tta, "none"))


def set_tta_mode(mode: str) -> None:
    """Record the test-time augmentation mode."""
    st.session_state[KEYS.tta] = str(mode)


# --------------------------------------------------------------------------- folders


def _env_dir(variable: str, default: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value else REPO_ROOT / default


def runs_root() -> Path:
    """Training runs: ``$GRAINSEG_RUNS_DIR``, else ``runs/`` beside ``app.py``."""
    return _env_dir("GRAINSEG_RUNS_DIR", "runs")


def datasets_root() -> Path:
    """Exported datasets: ``$GRAINSEG_DATASETS_DIR``, else ``datasets/`` beside ``app.py``."""
    return _env_dir("GRAINSEG_DATASETS_DIR", "datasets")


def models_root() -> Path:
    """The model zoo folder: :func:`grainseg_core.zoo.models_dir`."""
    return models_dir()
