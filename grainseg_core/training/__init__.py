"""Training runs: configuration, trainer, run folders, cross-validation, background processes."""

from __future__ import annotations

__all__: list[str] = []
