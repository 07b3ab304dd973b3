"""AppTest of the Training page: first load, configs that cannot run, start/stop/resume."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from grainseg_core.patching import ImagePair, PatchConfig, export_dataset
from grainseg_core.synthetic import make_microstructure
from grainseg_core.training import list_runs, read_status, stop_run
from grainseg_core.training.runs import pid_alive

PAGE = "pages/4_training.py"
TINY_ARCH = '{"base_width": 4, "depth": 2}'


def export_tiny_dataset(root: Path, name: str = "tiny") -> Path:
    """4 synthetic 128^2 images -> 64^2 patches split by image (a few seconds)."""
    pairs = []
    for i in range(4):
        ms = make_microstructure((128, 128), seed=100 + i, mean_grain_size_px=20)
        pairs.append(ImagePair(f"im{i}", ms.image, ms.boundary))
    out = root / name
    export_dataset(pairs, out, PatchConfig(size=64, val_fraction=0.25, test_fraction=0.25))
    return out


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train_datasets")
    export_tiny_dataset(root)
    return root


@pytest.fixture
def folders(tiny_root, tmp_path, monkeypatch) -> tuple[Path, Path]:
    """This test's datasets (the tiny one) and an empty runs folder."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("GRAINSEG_DATASETS_DIR", str(tiny_root))
    monkeypatch.setenv("GRAINSEG_RUNS_DIR", str(runs))
    yield tiny_root, runs
    # Never leave a training process behind, whatever the test did.
    for info in list_runs(runs):
        if info.state in ("starting", "running"):
            stop_run(info.run_dir)
            if info.pid:
                _wait(lambda pid=info.pid: not _alive(pid), 30, "the run to exit")


def _alive(pid: int) -> bool:
    # Zombie-aware: the page's launch_run made the run a child of this test process.
    return pid_alive(pid)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += (
        [e.value for e in at.error] + [e.value for e in at.info] + [e.value for e in at.success]
    )
    return "\n".join(str(p) for p in parts)


def _open(app_test):
    at = app_test().run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_training_page_without_datasets(app_test, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAINSEG_DATASETS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("GRAINSEG_RUNS_DIR", str(tmp_path / "runs"))
    at = _open(app_test)
    assert any("No dataset yet" in i.value for i in at.info)
    assert any("No run yet" in i.value for i in at.info)


def _fill(at, **values) -> None:
    for key, value in values.items():
        widget = (
            at.text_input(key=key)
            if key in ("tr_arch_kwargs", "tr_name")
            else at.number_input(key=key)
        )
        widget.set_value(value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tr_patch": 128}, "larger than the dataset's patches"),
        ({"tr_lr": 0.0}, "lr"),
        ({"tr_arch_kwargs": "{not json"}, "must be JSON"),
    ],
)
def test_config_that_cannot_run_shows_message_and_starts_nothing(
    app_test, folders, changes, message
):
    _, runs = folders
    at = _open(app_test)
    assert at.selectbox(key="tr_dataset").value.endswith("tiny")
    _fill(at, **changes)
    at.form_submit_button[0].click().run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert errors and message in errors[0], errors
    assert list_runs(runs) == []  # nothing was started


def test_start_stop_and_resume_a_tiny_run(app_test, folders):
    _, runs = folders
    at = _open(app_test)
    # no early stopping (patience 0): the run must still run when the test stops it
    _fill(
        at,
        tr_epochs=500,
        tr_batch=4,
        tr_threads=1,
        tr_patience=0,
        tr_arch_kwargs=TINY_ARCH,
        tr_name="tiny-test",
    )
    at.form_submit_button[0].click().run()
    assert not at.exception, at.exception
    assert any("started in the background" in s.value for s in at.success)
    (info,) = list_runs(runs)
    assert info.name == "tiny-test" and info.architecture == "slim_unet"

    # Poll through the page (not only the files): it must show the run as running.
    def page_says_running() -> bool:
        at.run()
        return "**running**" in _texts(at)

    _wait(page_says_running, 180, "the page to show the run running")
    assert not at.exception, at.exception
    # A second tab (a new session) sees the same run: the state lives in the run folder.
    other = _open(app_test)
    assert info.run_id in _texts(other) and "**running**" in _texts(other)
    at.button(key="tr_live_stop").click().run()
    assert not at.exception, at.exception
    _wait(lambda: read_status(info.run_dir).get("state") == "stopped", 90, "the run to stop")
    at.run()
    assert "**stopped**" in _texts(at)
    assert at.button(key="tr_static_resume")  # a stopped run offers Resume

    at.button(key="tr_static_resume").click().run()
    assert not at.exception, at.exception
    _wait(
        lambda: read_status(info.run_dir).get("state") == "running", 180, "the resumed run to run"
    )
    assert stop_run(info.run_dir) is True
    _wait(
        lambda: read_status(info.run_dir).get("state") == "stopped", 90, "the resumed run to stop"
    )
    pid = read_status(info.run_dir).get("pid")
    if pid:
        _wait(lambda: not _alive(int(pid)), 30, "the process to exit")


def test_finished_run_is_published_to_the_zoo_with_its_card(
    app_test, folders, tmp_path, monkeypatch
):
    import json

    from grainseg_core.zoo import list_models

    zoo = tmp_path / "zoo"
    monkeypatch.setenv("GRAINSEG_MODELS_DIR", str(zoo))
    _, runs = folders
    at = _open(app_test)
    _fill(at, tr_epochs=1, tr_batch=4, tr_threads=1, tr_arch_kwargs=TINY_ARCH, tr_name="pub")
    at.form_submit_button[0].click().run()
    (info,) = list_runs(runs)
    _wait(lambda: read_status(info.run_dir).get("state") == "finished", 180, "the run to finish")
    at.run()
    assert not at.exception, at.exception
    assert "**finished**" in _texts(at)
    at.text_input(key="tr_pub_name").set_value("my_model")
    at.text_input(key="tr_pub_title").set_value("My tiny model")
    at.multiselect(key="tr_pub_roles").set_value(["compare_topo"])
    publish = next(b for b in at.form_submit_button if b.label == "Publish")
    publish.click().run()
    assert not at.exception, at.exception
    assert any("Published **my_model**" in s.value for s in at.success)
    (entry,) = list_models(zoo)
    assert entry.name == "my_model" and entry.title == "My tiny model"
    assert entry.roles == ("compare_topo",)
    card = json.loads((zoo / "my_model.json").read_text())
    assert card["source_run"]["run_id"] == info.run_id
    # publishing again under the same name is refused with a message, the model stays
    next(b for b in at.form_submit_button if b.label == "Publish").click().run()
    assert any("exists" in e.value for e in at.error)
    assert [m.name for m in list_models(zoo)] == ["my_model"]
