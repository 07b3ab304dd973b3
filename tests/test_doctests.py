"""The examples in grainseg_core's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import grainseg_core

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(grainseg_core.__path__, "grainseg_core.")
    if not m.name.endswith("__main__")  # importing it runs the CLI
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(
        importlib.import_module(name), verbose=False, report=True, optionflags=doctest.ELLIPSIS
    )
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (printed above)"


def test_the_examples_are_found() -> None:
    # A collection that found nothing would pass every test above.
    finder = doctest.DocTestFinder()
    n = sum(len(t.examples) for name in MODULES for t in finder.find(importlib.import_module(name)))
    assert n > 200
