"""Atomic file replacement (grainseg_core._atomic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grainseg_core._atomic import write_atomic, write_text_atomic


def test_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "status.json"
    target.write_text("old", encoding="utf-8")
    assert write_text_atomic(target, "néw") == target
    assert target.read_text(encoding="utf-8") == "néw"
    write_text_atomic(target, "synced", fsync=True)
    assert target.read_text(encoding="utf-8") == "synced"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.json"
    target.write_text("old", encoding="utf-8")
    seen = []

    def half_write(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_text("partial", encoding="utf-8")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, half_write)
    assert target.read_text(encoding="utf-8") == "old"
    assert seen[0].parent == tmp_path and seen[0].name.startswith(".model.json.")
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]
