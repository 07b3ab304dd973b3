"""Fixtures of the dashboard tests: a temporary model zoo, AppTest, a live server, Chromium.

- ``temp_zoo`` (session): a folder with two tiny random-weight slim U-Nets,
  ``default`` (roles ``default``, ``compare_bce``) and ``alt`` (role ``compare_topo``),
  so every page has models without the shipped zoo.
- ``app_env`` (session, autouse): points ``GRAINSEG_MODELS_DIR`` at ``temp_zoo`` and
  ``GRAINSEG_RUNS_DIR`` / ``GRAINSEG_DATASETS_DIR`` at empty temporary folders for the whole
  session (AppTest runs the app in this process; the server fixture passes them on).
- ``app_test``: a factory of ``AppTest.from_file("app.py")`` with a generous timeout
  (with ``_apptest_runs_app_py``, every AppTest run executes ``app.py`` like the server).
- ``streamlit_server`` (session): ``streamlit run app.py`` on a free port with that
  environment, waited for on ``/_stcore/health``; yields the base URL.
- ``fresh_server``: the same, started for one test (first visits to a new server).
- ``browser`` (session): headless Chromium from the distribution (``/usr/bin/chromium``)
  through Playwright; skips with the reason when either is missing.
- ``browser_page``: a fresh context + page (downloads accepted), closed afterwards.
- ``screenshot_dir``: ``artifacts/screenshots/`` (gitignored).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# The app's own package (ui/) sits beside app.py, not in site-packages: tests import it
# from the repository, as ``streamlit run`` and AppTest do.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
APP = REPO_ROOT / "app.py"
CHROMIUM = Path(os.environ.get("GRAINSEG_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Seconds an AppTest run may take (the 2-core machine is shared; the first run loads torch).
APP_TIMEOUT = 240
#: Seconds the server gets to come up.
SERVER_START_TIMEOUT = 180

_ENV_VARS = ("GRAINSEG_MODELS_DIR", "GRAINSEG_RUNS_DIR", "GRAINSEG_DATASETS_DIR")


def _calibrate_head(model, image) -> None:
    """Rescale the output layer so the map spreads over (0, 1) around 0.5 on ``image``.

    A random network gives a nearly constant probability; with the logits ``z`` centred on
    their median and scaled to a standard deviation of 3, the map follows the image
    (different thresholds give different grains), as a trained model's would.
    """
    import torch

    from grainseg_core.io import normalize_image

    model.eval()
    head = model.head
    with torch.no_grad():
        x = torch.from_numpy(normalize_image(image)[None, None].copy())
        z = model(x).flatten()
        gain = 3.0 / max(float(z.std()), 1e-6)
        median = float(z.median())
        head.weight.mul_(gain)
        head.bias.sub_(median).mul_(gain)


def build_tiny_zoo(folder: Path) -> Path:
    """Write two tiny random-weight models into ``folder`` (created) and return it.

    ``default`` (roles ``default``, ``compare_bce``) and ``alt`` (``compare_topo``):
    slim U-Nets of base width 8 and depth 3 whose output layer is calibrated on the NIST
    sample (see :func:`_calibrate_head`), so their maps respond to the image and the two
    models disagree (an ensemble has a non-zero uncertainty).
    """
    import torch

    from grainseg_core.nets import build_model, save_model
    from grainseg_core.samples import load_sample

    folder.mkdir(parents=True, exist_ok=True)
    image = load_sample("nist_steel").image[:256, :256]
    specs = (
        ("default", 0, ["default", "compare_bce"], "Tiny test model (default)"),
        ("alt", 1, ["compare_topo"], "Tiny test model (alt)"),
    )
    for name, seed, roles, title in specs:
        torch.manual_seed(seed)
        model = build_model("slim_unet", base_width=8, depth=3)
        _calibrate_head(model, image)
        save_model(
            model,
            folder / name,
            card={
                "zoo": {"roles": roles, "title": title},
                "description": "random weights, tests only",
            },
        )
    return folder


@pytest.fixture(scope="session")
def temp_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model zoo of two tiny random-weight slim U-Nets (``default``, ``alt``)."""
    return build_tiny_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture(scope="session", autouse=True)
def app_env(tmp_path_factory: pytest.TempPathFactory, temp_zoo: Path) -> Iterator[dict[str, str]]:
    """Point the app at the temporary zoo and empty runs/datasets folders for the session."""
    values = {
        "GRAINSEG_MODELS_DIR": str(temp_zoo),
        "GRAINSEG_RUNS_DIR": str(tmp_path_factory.mktemp("runs")),
        "GRAINSEG_DATASETS_DIR": str(tmp_path_factory.mktemp("datasets")),
    }
    saved = {k: os.environ.get(k) for k in _ENV_VARS}
    os.environ.update(values)
    try:
        yield values
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@pytest.fixture(scope="session", autouse=True)
def _apptest_runs_app_py() -> Iterator[None]:
    """Make AppTest run ``app.py`` on every rerun, as the real server does.

    Streamlit falls back to the legacy multipage mode (run the page file alone) while
    ``PagesManager.uses_pages_directory`` is True, which it is whenever a ``pages/`` folder
    sits beside the script, until ``st.navigation`` sets it False. The server keeps that
    False after the first run; AppTest (1.67) resets it before every run, so its reruns
    and ``switch_page`` would skip ``app.py`` (no sidebar, no navigation). This keeps it
    False after each reset, which is what the server does once the app has run.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init
    try:
        yield
    finally:
        PagesManager.__init__ = original


@pytest.fixture
def app_test() -> Callable[[], object]:
    """Factory: a fresh ``AppTest`` of ``app.py`` (call ``.run()`` on it)."""
    from streamlit.testing.v1 import AppTest

    def make():
        return AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)

    return make


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def start_server(env: dict[str, str], log_path: Path, *, port: int | None = None):
    """Start ``streamlit run app.py``; return (process, base URL) once it is healthy."""
    port = port or free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    log = log_path.open("wb")
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.close()
            raise RuntimeError(
                f"streamlit exited with code {proc.returncode}:\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        if _healthy(url):
            return proc, url
        time.sleep(0.5)
    stop_server(proc)
    raise RuntimeError(f"streamlit did not answer on {url} within {SERVER_START_TIMEOUT} s")


def stop_server(proc: subprocess.Popen) -> None:
    """Terminate the server process we started (and wait for it)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


@pytest.fixture(scope="session")
def streamlit_server(
    app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Base URL of a live ``streamlit run app.py`` with the test environment."""
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    proc, url = start_server(app_env, log_path)
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture
def fresh_server(app_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A server of its own (nothing has run in it yet), for first-visit behaviour."""
    proc, url = start_server(app_env, tmp_path / "fresh_streamlit.log")
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (the distribution's) driven by Playwright; skips when absent."""
    if not CHROMIUM.is_file() and shutil.which("chromium") is None:
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (run scripts/ensure_chromium.sh)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is missing"
    )
    executable = str(CHROMIUM) if CHROMIUM.is_file() else shutil.which("chromium")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the test item, so fixtures can tell a failed test.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def browser_page(browser, request, screenshot_dir):
    """A fresh browser context and page (1400x1000, downloads accepted).

    When the test fails, the page is saved as ``<test>_FAILED.png`` with its text in
    ``<test>_FAILED.txt`` in the screenshot folder: what the user would have seen.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(120_000)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            stem = screenshot_dir / f"{request.node.name}_FAILED"
            try:
                page.screenshot(path=f"{stem}.png", full_page=True, timeout=30_000)
                stem.with_suffix(".txt").write_text(page.locator("body").inner_text(timeout=30_000))
            except Exception as exc:  # the page may be gone; the test's own error matters more
                stem.with_suffix(".txt").write_text(f"could not capture the page: {exc}")
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """``artifacts/screenshots/`` in the repository (created; gitignored)."""
    folder = REPO_ROOT / "artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
