"""The package's public API: every exported name resolves; importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import grainseg_core


def test_every_exported_name_resolves() -> None:
    missing = [name for name in grainseg_core.__all__ if not hasattr(grainseg_core, name)]
    assert missing == []


def test_import_loads_neither_torch_nor_streamlit() -> None:
    code = "import sys, grainseg_core; print('torch' in sys.modules, 'streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_core_never_imports_streamlit() -> None:
    from pathlib import Path

    root = Path(grainseg_core.__file__).parent
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if any(
            line.strip().startswith(("import streamlit", "from streamlit"))
            for line in p.read_text(encoding="utf-8").splitlines()
        )
    ]
    assert offenders == []
