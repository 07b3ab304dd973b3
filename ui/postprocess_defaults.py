"""Where post-processing controls start: the chosen model's card, else the defaults.

A model published to the zoo carries the post-processing it was validated with under
``card["postprocess"]`` (threshold chosen on validation images, skeletonising, small
fragments dropped...). Every page that segments with a model starts from it: the Segment
page's controls (the first model of an ensemble), the Compare page (each model its own),
the Statistics page's sources. A model whose card says nothing, or says something this
version cannot use, starts from ``PostprocessConfig()``, and the page says so.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from grainseg_core.errors import GrainsegError, GrainsegWarning
from grainseg_core.postprocess import PostprocessConfig
from grainseg_core.postprocess import recommended_postprocess
from ui.cache import model_card_cached, model_key

__all__ = ["PostDefaults", "NO_MODEL_KEY", "postprocess_defaults", "describe_postprocess"]

#: :attr:`PostDefaults.key` when no model is chosen (a sample's traced boundaries).
NO_MODEL_KEY = "no model"


@dataclass(frozen=True)
class PostDefaults:
    """Post-processing settings to start from, and where they come from.

    Attributes
    ----------
    config : PostprocessConfig
    source : str
        Where ``config`` comes from, in words ("the card of model 'default'").
    key : str
        Identifies the source (model file and card version): when it changes, controls
        that started from the old defaults start again from the new ones.
    note : str or None
        Why the card's recommendation was not used, or what of it was ignored.
    """

    config: PostprocessConfig
    source: str
    key: str
    note: str | None = None


def describe_postprocess(config: PostprocessConfig) -> str:
    """The settings that differ from ``PostprocessConfig()``, as ``name=value`` pairs.

    Examples
    --------
    >>> describe_postprocess(PostprocessConfig(threshold=0.4, skeletonize=True))
    'threshold=0.4, skeletonize=True'
    >>> describe_postprocess(PostprocessConfig())
    'no changes to the defaults'
    """
    base = PostprocessConfig()
    changed = [
        f"{f.name}={getattr(config, f.name)!r}"
        for f in fields(PostprocessConfig)
        if getattr(config, f.name) != getattr(base, f.name)
    ]
    return ", ".join(changed).replace("'", "") or "no changes to the defaults"


def postprocess_defaults(model_paths: Sequence[str | os.PathLike]) -> PostDefaults:
    """The recommended post-processing of the first model in ``model_paths``.

    Parameters
    ----------
    model_paths : sequence of path
        The models that will segment (``.safetensors`` files with their cards); the first
        one's card counts for an ensemble. Empty: the defaults (traced boundaries).

    Returns
    -------
    PostDefaults
        Never raises for a bad card: its problem goes into :attr:`PostDefaults.note` and
        the defaults are used.
    """
    if not model_paths:
        return PostDefaults(PostprocessConfig(), "the default settings (no model)", NO_MODEL_KEY)
    first = Path(model_paths[0])
    name = f"model '{first.stem}'"
    if len(model_paths) > 1:
        name += " (the first of the ensemble)"
    key = "|".join(str(part) for part in model_key(first))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GrainsegWarning)
            config = recommended_postprocess(model_card_cached(first), model_name=name)
    except GrainsegError as exc:
        return PostDefaults(
            PostprocessConfig(),
            "the default settings",
            key,
            note=f"{exc} The default settings are used instead.",
        )
    note = "; ".join(str(w.message) for w in caught) or None
    if config is None:
        return PostDefaults(
            PostprocessConfig(), f"the default settings ({name}: its card recommends none)", key
        )
    return PostDefaults(config, f"the card of {name}", key, note=note)
