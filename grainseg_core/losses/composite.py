"""Weighted sums of losses built from a config, with the per-term values kept for logging."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from grainseg_core.errors import ConfigError, unknown_name_error
from grainseg_core.losses._params import as_float
from grainseg_core.losses.bce import WeightedBCELoss
from grainseg_core.losses.cldice import ClDiceLoss
from grainseg_core.losses.dice import DiceLoss
from grainseg_core.losses.focal import FocalLoss
from grainseg_core.losses.skeleton import SkeletonRecallLoss
from grainseg_core.losses.topo import TopoLoss

__all__ = ["LOSSES", "CompositeLoss", "build_loss", "list_losses"]

#: Loss name -> module class; every class takes keyword-only options.
LOSSES: dict[str, type[nn.Module]] = {
    "bce": WeightedBCELoss,
    "dice": DiceLoss,
    "focal": FocalLoss,
    "topo": TopoLoss,
    "skeleton_recall": SkeletonRecallLoss,
    "cldice": ClDiceLoss,
}


def list_losses() -> list[str]:
    """Names accepted in a loss config, sorted.

    Examples
    --------
    >>> list_losses()
    ['bce', 'cldice', 'dice', 'focal', 'skeleton_recall', 'topo']
    """
    return sorted(LOSSES)


class CompositeLoss(nn.Module):
    """``sum_i weight_i * loss_i(logits, target)``.

    Parameters
    ----------
    terms : sequence of (label, module, weight)
        The terms; labels must be unique.

    Attributes
    ----------
    last_terms : dict of str to float
        Unweighted value of each term in the last call (for logging).
    last_total : float
        The last total.

    Notes
    -----
    ``forward(logits, target)``: logits and target (B, 1, H, W) (target 1 =
    boundary); returns the weighted total as a scalar tensor.
    """

    def __init__(self, terms: Sequence[tuple[str, nn.Module, float]]) -> None:
        super().__init__()
        if not terms:
            raise ConfigError("a loss needs at least one term.")
        labels = [t[0] for t in terms]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"loss term labels must be unique; got {labels}.")
        self.labels = labels
        self.weights = [float(t[2]) for t in terms]
        self.terms = nn.ModuleList(t[1] for t in terms)
        self.last_terms: dict[str, float] = {}
        self.last_total: float = float("nan")

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        values = [term(logits, target) for term in self.terms]
        total = values[0] * self.weights[0]
        for value, weight in zip(values[1:], self.weights[1:]):
            total = total + value * weight
        # One device-to-host copy for all the logged numbers.
        logged = torch.stack([v.detach().float() for v in values] + [total.detach().float()]).tolist()
        self.last_terms = dict(zip(self.labels, logged[:-1]))
        self.last_total = logged[-1]
        return total

    def extra_repr(self) -> str:
        return ", ".join(f"{lab}*{w:g}" for lab, w in zip(self.labels, self.weights))


def _term(spec: Any, index: int) -> tuple[str, nn.Module, float]:
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"loss term {index} must be a name or a mapping with 'name'; got {spec!r}."
        )
    params = dict(spec)
    name = params.pop("name", None)
    if not isinstance(name, str):
        raise ConfigError(f"loss term {index} has no 'name' (one of {', '.join(list_losses())}).")
    if name not in LOSSES:
        raise unknown_name_error("loss", name, LOSSES)
    weight = as_float(params.pop("weight", 1.0), f"weight of loss term {index} ({name})", low=0.0)
    label = params.pop("label", name)
    if not isinstance(label, str) or not label:
        raise ConfigError(f"label of loss term {index} ({name}) must be a non-empty string.")
    cls = LOSSES[name]
    valid = [
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise ConfigError(
            f"loss '{name}' has no option {', '.join(repr(k) for k in unknown)}; valid options: "
            f"{', '.join(valid + ['weight', 'label'])}."
        )
    try:
        module = cls(**params)
    except ConfigError as exc:
        raise ConfigError(f"loss term {index} ({name}): {exc}") from exc
    return label, module, weight


def build_loss(config: Mapping[str, Any] | Sequence[Any] | str) -> CompositeLoss:
    """Build a weighted sum of losses from a config.

    Parameters
    ----------
    config : mapping, sequence or str
        ``{"terms": [{"name": ..., "weight": ..., <options>}, ...]}``, or the list of
        terms itself, or one loss name. ``weight`` defaults to 1 and must be >= 0
        (a 0-weight term is still computed and logged, e.g. to monitor TopoLoss);
        ``label`` names the term in ``last_terms`` (default: its name; a repeated
        name gets ``_2``, ``_3``, ...). Names: :func:`list_losses`; options: the
        keyword arguments of each loss class (e.g. ``pos_weight`` for ``bce``,
        ``gamma``/``alpha`` for ``focal``, ``spurious_threshold`` for ``topo``).

    Returns
    -------
    CompositeLoss
        ``loss(logits, target)`` returns the total; ``loss.last_terms`` the
        unweighted value of each term.

    Raises
    ------
    ConfigError
        Unknown loss name (valid names and the closest listed), unknown option,
        negative weight, out-of-range option.

    Examples
    --------
    >>> loss = build_loss({"terms": [{"name": "bce", "pos_weight": 9, "weight": 1.0},
    ...                              {"name": "dice", "weight": 0.5}]})
    >>> total = loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
    >>> sorted(loss.last_terms)
    ['bce', 'dice']
    """
    if isinstance(config, str):
        terms_cfg: Any = [config]
    elif isinstance(config, Mapping):
        if "terms" not in config:
            raise ConfigError(
                "loss config needs a 'terms' list, e.g. "
                '{"terms": [{"name": "bce", "pos_weight": 9}, {"name": "topo", "weight": 0.04}]}.'
            )
        extra = [k for k in config if k != "terms"]
        if extra:
            raise ConfigError(f"loss config has unknown keys {extra}; only 'terms' is read.")
        terms_cfg = config["terms"]
    else:
        terms_cfg = config
    if isinstance(terms_cfg, (str, bytes)) or not isinstance(terms_cfg, Sequence) or not terms_cfg:
        raise ConfigError(f"loss 'terms' must be a non-empty list; got {terms_cfg!r}.")
    built = [_term(spec, i) for i, spec in enumerate(terms_cfg)]
    seen: dict[str, int] = {}
    terms = []
    for label, module, weight in built:
        seen[label] = seen.get(label, 0) + 1
        terms.append((label if seen[label] == 1 else f"{label}_{seen[label]}", module, weight))
    return CompositeLoss(terms)
