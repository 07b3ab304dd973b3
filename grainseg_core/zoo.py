"""The model zoo: trained networks shipped in ``models/`` (or a folder of the user's).

Each model is ``<name>.safetensors`` + ``<name>.json`` (its card). A card may name
*roles* under ``"zoo": {"roles": [...]}``:

``"default"``
    the model the dashboard and CLI use when none is chosen;
``"compare_bce"``, ``"compare_topo"``
    the pair trained identically but for the loss (BCE vs BCE + TopoLoss), shown
    side by side on the comparison page;
``"ensemble"``
    a partner of the default model: the two averaged (an ensemble) measure grain sizes
    more accurately than either alone, at the cost of one more network pass
    (:func:`recommended_ensemble`).

Reading the zoo only reads JSON cards; weights load later through
:func:`grainseg_core.inference.load_model`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grainseg_core.errors import GrainsegError, ModelError, unknown_name_error
from grainseg_core.nets.serialization import read_model_card

__all__ = [
    "ZooEntry",
    "models_dir",
    "list_models",
    "find_model",
    "default_model",
    "comparison_pair",
    "recommended_ensemble",
]

_REPO_MODELS = Path(__file__).resolve().parents[1] / "models"


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo, as its card describes it."""

    name: str
    path: Path  # the .safetensors file
    title: str
    description: str
    architecture: str
    roles: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict, compare=False)
    card: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def models_dir(path: str | os.PathLike | None = None) -> Path:
    """The zoo folder: ``path``, else ``$GRAINSEG_MODELS_DIR``, else the repository's ``models/``."""
    if path is not None:
        return Path(path)
    env = os.environ.get("GRAINSEG_MODELS_DIR")
    return Path(env) if env else _REPO_MODELS


def _entry(card_path: Path) -> ZooEntry:
    card = read_model_card(card_path)
    zoo = card.get("zoo") if isinstance(card.get("zoo"), dict) else {}
    name = card_path.stem
    return ZooEntry(
        name=name,
        path=card_path.with_suffix(".safetensors"),
        title=str(zoo.get("title") or card.get("title") or name),
        description=str(zoo.get("description") or card.get("description") or ""),
        architecture=str(card["architecture"]),
        roles=tuple(str(r) for r in zoo.get("roles", ())),
        metrics=dict(card.get("metrics") or {}),
        card=card,
    )


def list_models(path: str | os.PathLike | None = None) -> list[ZooEntry]:
    """Return the zoo's models (those with both a card and a weights file), default first.

    Cards that cannot be read are skipped: one broken upload must not hide the rest.

    Examples
    --------
    >>> [m.name for m in list_models("/nonexistent")]
    []
    """
    folder = models_dir(path)
    if not folder.is_dir():
        return []
    entries = []
    for card_path in sorted(folder.glob("*.json")):
        if not card_path.with_suffix(".safetensors").is_file():
            continue
        try:
            entries.append(_entry(card_path))
        except GrainsegError:
            continue
    return sorted(entries, key=lambda e: ("default" not in e.roles, e.name))


def find_model(name: str, path: str | os.PathLike | None = None) -> ZooEntry:
    """Return the zoo model called ``name``; unknown names list the valid ones."""
    entries = {e.name: e for e in list_models(path)}
    if name not in entries:
        raise unknown_name_error("model", name, entries, error=ModelError)
    return entries[name]


def default_model(path: str | os.PathLike | None = None) -> ZooEntry:
    """Return the model with role ``"default"`` (or the only/first model)."""
    entries = list_models(path)
    if not entries:
        raise ModelError(
            f"the model zoo {models_dir(path)} holds no model (<name>.safetensors + <name>.json); "
            "train one (grainseg train) and publish it, or point GRAINSEG_MODELS_DIR to a zoo."
        )
    return entries[0]


def comparison_pair(path: str | os.PathLike | None = None) -> tuple[ZooEntry, ZooEntry] | None:
    """Return the (BCE, BCE + TopoLoss) pair for the comparison page, or None if not shipped."""
    by_role = {role: e for e in list_models(path) for role in e.roles}
    if "compare_bce" in by_role and "compare_topo" in by_role:
        return by_role["compare_bce"], by_role["compare_topo"]
    return None


def recommended_ensemble(
    path: str | os.PathLike | None = None, *, entries: Sequence[ZooEntry] | None = None
) -> list[ZooEntry]:
    """Return the default model followed by its ensemble partners (role ``"ensemble"``).

    An empty list when the zoo has no partner: then there is no ensemble to recommend.

    Parameters
    ----------
    path : path, optional
        The zoo folder (see :func:`models_dir`).
    entries : sequence of ZooEntry, optional
        The zoo as :func:`list_models` gave it (default first), to save reading it again.

    Examples
    --------
    >>> recommended_ensemble("/nonexistent")
    []
    """
    entries = list_models(path) if entries is None else list(entries)
    partners = [e for e in entries[1:] if "ensemble" in e.roles]
    return [entries[0], *partners] if partners else []
