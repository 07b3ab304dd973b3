"""Benchmark: the dashboard as a user sees it, in headless Chromium against a live server.

Prints one JSON object:

- ``model``: ``--model PATH`` (a ``.safetensors`` with its card), else ``models/default.*``
  when the repository ships it, else a slim U-Net of base width 16 (depth 4) with random
  weights, its output layer rescaled so the map follows the image (a constant map would
  make post-processing unrealistically cheap; its noisy map gives ~10x the grains of a
  trained model, so it overstates the grain-table cost); ``model["which"]`` says which one
  ran. ``--postprocess JSON`` writes a recommended post-processing into the benchmark
  zoo's card (e.g. the default recipe's ``{"skeletonize": true, "min_fragment_px": 8}``);
  the app starts from the card, and every expected count below uses it
  (``model["postprocess"]``).
- ``upload_to_first_result_s``: a 2048x1536 8-bit PNG micrograph (a seeded synthetic
  microstructure, ~60 px grains, 0.1 um/px) chosen in the page's file input -> its new
  overlay image loaded and the grain count of that image on the page (equal to the
  core's count, checked), timed in the page from the input's ``change`` event. The model is
  already loaded by the landing page; every upload is a new image (no cache hit). The
  first upload and the median of the others are reported.
- ``slider_to_update_s``: one step of the threshold slider (keyboard, from the card's
  threshold) -> the new overlay image loaded and the new grain count shown (median of
  several steps; timed in the page from the ``keydown``), and the CPU seconds per step of
  the server and of the browser (Playwright's driver + Chromium), which share the
  machine's cores.
- ``server_script_runs_apptest``: the page's script runs alone (AppTest, no browser, no
  websocket): upload -> result (two images the server has not seen) and slider -> rerun.
- ``server_breakdown_s``: the same work as direct calls in this process (network,
  post-processing and each of its steps, ``postprocess.<step>``, grain table, summary
  with ASTM G, the boundary view's PNG as the page makes it from its kept display
  image), to see where the time goes; and one full
  ``gc.collect(2)``, what Streamlit's default ``runner.postScriptGC`` (off in our config)
  would add to every script run.
- ``server_rss_mb``: resident memory of the streamlit process and its children: idle,
  after one session, and with four browser sessions open that uploaded four new
  2048x1536 images at once (``four_concurrent_uploads_all_done_s``: until all four show
  their counts).

Timings are wall clock on a shared machine: compare runs made under similar load
(``machine.load_average_before/after``: 1, 5, 15 min). Nothing is asserted.

Run: ``.venv/bin/python bench/bench_app.py [--model PATH] [--postprocess JSON] [--quick]``
(needs /usr/bin/chromium and playwright; ``--quick``: two uploads, no four-session part).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # ui/ lives beside app.py

SHAPE = (1536, 2048)
PIXEL_SIZE_UM = 0.1
N_UPLOADS = 4
N_SLIDER_STEPS = 5
TIMEOUT_MS = 300_000
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


# ----------------------------------------------------------------------------- setup


def _calibrate_head(model, image: np.ndarray) -> None:
    """Centre the logits on their median and scale them to std 3 on ``image``."""
    import torch

    from grainseg_core.io import normalize_image

    model.eval()
    with torch.no_grad():
        z = model(torch.from_numpy(normalize_image(image)[None, None].copy())).flatten()
        gain = 3.0 / max(float(z.std()), 1e-6)
        model.head.weight.mul_(gain)
        model.head.bias.sub_(float(z.median())).mul_(gain)


def _zoo(
    tmp: Path, sample_image: np.ndarray, model: Path | None, postprocess: dict | None
) -> tuple[Path, dict]:
    """A one-model zoo in ``tmp`` (role ``default``) and what it holds."""
    import torch

    from grainseg_core.nets import build_model, count_parameters, save_model

    folder = tmp / "zoo"
    folder.mkdir()
    shipped = REPO / "models" / "default.safetensors"
    source = model or (shipped if shipped.is_file() else None)
    if source is not None:
        card = json.loads(source.with_suffix(".json").read_text(encoding="utf-8"))
        shutil.copyfile(source, folder / "default.safetensors")
        info = {"which": str(source)}
    else:
        torch.manual_seed(0)
        net = build_model("slim_unet", base_width=16)
        _calibrate_head(net, sample_image[:512, :512])
        save_model(net, folder / "default", card={})
        card = json.loads((folder / "default.json").read_text(encoding="utf-8"))
        info = {
            "which": "no model given or shipped: slim_unet base_width=16 depth=4, random "
            "weights (output layer rescaled so the map follows the image)",
            "parameters": int(count_parameters(net)),
        }
    card["zoo"] = {**(card.get("zoo") or {}), "roles": ["default"]}
    if postprocess is not None:
        card["postprocess"] = postprocess
    (folder / "default.json").write_text(json.dumps(card), encoding="utf-8")
    info["postprocess"] = card.get("postprocess")
    return folder, info


def _card_post(zoo: Path):
    """The post-processing the app starts from: the card's recommendation, else defaults."""
    from grainseg_core.nets.serialization import read_model_card
    from grainseg_core.postprocess import PostprocessConfig
    from grainseg_core.postprocess import recommended_postprocess

    card = read_model_card(zoo / "default.json")
    return recommended_postprocess(card) or PostprocessConfig()


def _micrographs(tmp: Path, n: int) -> list[tuple[Path, np.ndarray]]:
    from grainseg_core.io import write_image
    from grainseg_core.synthetic import make_microstructure

    out = []
    for seed in range(n):
        image = make_microstructure(SHAPE, seed=100 + seed, mean_grain_size_px=60).image
        path = tmp / f"micrograph_{seed}.png"
        write_image(path, image, pixel_size_um=PIXEL_SIZE_UM)
        out.append((path, image))
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(REPO / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("streamlit did not start within 180 s")


def _descendants(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (MB)."""
    total = 0
    for p in _descendants(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (those still running)."""
    ticks = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


def _browser_pids(server_pid: int) -> list[int]:
    """Playwright's driver and Chromium: this process's descendants but the server's."""
    server = set(_descendants(server_pid))
    return [p for p in _descendants(os.getpid()) if p != os.getpid() and p not in server]


# ----------------------------------------------------------------------------- browser steps


def _grains(page):
    box = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text("Grains", exact=True)
    )
    return box.get_by_test_id("stMetricValue").first


# Timed in the page's own clock, with nothing running while it waits: a listener notes
# performance.now() at the user's input (the file input's ``change``, the slider's
# ``keydown``), and a MutationObserver, with the images' ``load`` events (which change no
# DOM), resolves when the new overlay has loaded and the expected grain count is shown.
# (Polling on every animation frame, Playwright's ``polling="raf"``, made Chromium draw
# ~60 frames a second on the cores the server uses: ~0.1 CPU-s and ~0.1 s more per
# upload in an A/B of this page.)
_ARM_JS = """([startEvent, before, expected, timeoutMs]) => {
  const grainsShown = () => [...document.querySelectorAll('[data-testid="stMetric"]')].some(m => {
    const label = m.querySelector('[data-testid="stMetricLabel"]');
    const value = m.querySelector('[data-testid="stMetricValue"]');
    return label && value && label.innerText.trim().split('\\n')[0] === 'Grains'
        && value.innerText.trim() === expected; });
  const imageShown = () => before === null || (() => {
    const img = document.querySelector('[data-testid="stImage"] img');
    return img && img.getAttribute('src') !== before && img.complete; })();
  window.__gsStart = undefined;
  document.addEventListener(startEvent, () => { window.__gsStart = performance.now(); },
                            {capture: true, once: true});
  window.__gsDone = new Promise((resolve, reject) => {
    let done = false;
    const check = () => {
      if (done || window.__gsStart === undefined || !imageShown() || !grainsShown()) return;
      done = true; obs.disconnect(); document.removeEventListener('load', check, true);
      resolve(performance.now() - window.__gsStart); };
    const obs = new MutationObserver(check);
    obs.observe(document.body, {subtree: true, childList: true, attributes: true,
                                characterData: true});
    document.addEventListener('load', check, true);
    setTimeout(() => reject(new Error('no result within ' + timeoutMs + ' ms')), timeoutMs);
  });
}"""


def _arm(page, start_event: str, expected: int, before: str | None) -> None:
    """Watch for the result of the next ``start_event``: ``expected`` grains and, unless
    ``before`` is None, an overlay image whose src is not ``before``, loaded."""
    page.evaluate(_ARM_JS, [start_event, before, str(expected), TIMEOUT_MS])


def _armed_result_s(page) -> float:
    """Seconds from the armed input event to its result on the page."""
    return page.evaluate("() => window.__gsDone") / 1000.0


def _upload(page, path: Path, expected: int) -> float:
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="Upload a micrograph")
    # The new overlay and the new count (two images may share a grain count).
    _arm(page, "change", expected, _main_image_src(page))
    uploader.locator("input[type=file]").set_input_files(str(path))
    return _armed_result_s(page)


def _main_image_src(page) -> str:
    return page.get_by_test_id("stImage").first.locator("img").get_attribute("src") or ""


def _slider_step(page, expected: int) -> float:
    slider = page.get_by_test_id("stSlider").filter(has_text="Threshold").get_by_role("slider")
    slider.focus()
    _arm(page, "keydown", expected, _main_image_src(page))
    slider.press("ArrowRight")
    return _armed_result_s(page)


# ----------------------------------------------------------------------------- AppTest


def _apptest_timings(
    zoo: Path, images: list[tuple[Path, np.ndarray]], threshold: float
) -> dict:
    """Server-side script-run times (no browser): upload -> result, slider -> rerun.

    The slider steps up by 0.01 from ``threshold`` (the card's, where the page starts).
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    # As tests/app/conftest.py: AppTest re-enables Streamlit's legacy pages/ mode before
    # every run; the server keeps it off once st.navigation has run.
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init
    os.environ["GRAINSEG_MODELS_DIR"] = str(zoo)
    try:
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=600).run()
        uploads, steps = [], []
        for path, _ in images[:2]:
            uploader = at.file_uploader(key="seg_w_upload")
            uploader.set_value((path.name, path.read_bytes(), "image/png"))
            start = time.perf_counter()
            at.run()
            uploads.append(time.perf_counter() - start)
        for k in range(1, N_SLIDER_STEPS + 1):
            at.slider(key="seg_w_threshold").set_value(round(threshold + 0.01 * k, 2))
            start = time.perf_counter()
            at.run()
            steps.append(time.perf_counter() - start)
        return {
            "upload_to_result_s": [round(t, 3) for t in uploads],
            "slider_rerun_s_median": round(statistics.median(steps), 3),
            "slider_rerun_s": [round(t, 3) for t in steps],
        }
    finally:
        PagesManager.__init__ = original


# ----------------------------------------------------------------------------- main


def _breakdown(image: np.ndarray, model_path: Path, post) -> dict[str, float]:
    """Where a result's time goes, as direct calls (median of 3)."""
    from grainseg_core.inference import (
        DEFAULT_OVERLAP,
        DEFAULT_TILE,
        load_model,
        segment_probability,
    )
    from grainseg_core.postprocess import run_postprocess
    from grainseg_core.resegment import segmentation_from_masks
    from ui.segment_views import DISPLAY_SIDE, VIEWS, display_gray, view_png

    model = load_model(model_path)
    times: dict[str, list[float]] = {}

    def lap(name, fn, *args, **kwargs):
        start = time.perf_counter()
        value = fn(*args, **kwargs)
        times.setdefault(name, []).append(time.perf_counter() - start)
        return value

    for _ in range(3):
        prob, _ = lap(
            "network",
            segment_probability,
            image,
            [model],
            tta="none",
            tile=DEFAULT_TILE,
            overlap=DEFAULT_OVERLAP,
            batch=4,
            progress=None,
        )
        processed = lap("postprocess", run_postprocess, prob, post, pixel_size_um=PIXEL_SIZE_UM)
        for step, ms in processed.timings_ms.items():  # where the post-processing goes
            times.setdefault(f"postprocess.{step}", []).append(ms / 1e3)
        result = lap(
            "grain_table",
            segmentation_from_masks,
            prob,
            processed.boundary,
            labels=processed.labels,
            post=post,
            pixel_size_um=PIXEL_SIZE_UM,
        )
        lap("summary_with_astm_g", result.summary)
        # Once per image (kept in a cache by the page), then per slider move:
        gray = lap("display_image_once_per_image", display_gray, image, DISPLAY_SIDE)
        lap(
            "boundary_view_png",
            view_png,
            VIEWS[0],
            image,
            boundary=result.boundary,
            labels=result.labels,
            probability=result.probability,
            max_side=DISPLAY_SIDE,
            gray=gray,
        )
        # What Streamlit's default runner.postScriptGC (off in our config) adds to every
        # script run, with the app's libraries loaded as here.
        lap("full_gc_collect", gc.collect, 2)
    return {k: round(statistics.median(v), 3) for k, v in times.items()}


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", type=Path, help=".safetensors file with its .json card")
    parser.add_argument(
        "--postprocess",
        type=json.loads,
        help='JSON of PostprocessConfig fields for the card, e.g. \'{"skeletonize": true}\'',
    )
    parser.add_argument("--quick", action="store_true", help="two uploads, no four sessions")
    return parser.parse_args()


def main() -> None:
    import dataclasses

    import streamlit
    import torch
    from playwright.sync_api import sync_playwright

    from grainseg_core.inference import load_model, segment
    from grainseg_core.resegment import resegment
    from grainseg_core.samples import load_sample

    args = _args()
    n_uploads = 2 if args.quick else N_UPLOADS
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    load_before = [round(v, 2) for v in os.getloadavg()]
    out: dict = {
        "benchmark": "dashboard: upload -> result, slider -> update, server memory (4 sessions)",
        "machine": {
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "streamlit": streamlit.__version__,
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "load_average_before": load_before,
        },
        "image": {
            "shape": list(SHAPE),
            "dtype": "uint8",
            "format": "PNG",
            "pixel_size_um": PIXEL_SIZE_UM,
            "source": "make_microstructure(seed=100+k, mean_grain_size_px=60)",
        },
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        zoo, out["model"] = _zoo(
            tmp, load_sample("nist_steel").image, args.model, args.postprocess
        )
        post = _card_post(zoo)
        model = load_model(zoo / "default.safetensors")
        all_images = _micrographs(tmp, n_uploads + (2 if args.quick else 4))
        all_results = [
            segment(image, model, pixel_size_um=PIXEL_SIZE_UM, post=post)
            for _, image in all_images
        ]
        images, results = all_images[:n_uploads], all_results[:n_uploads]
        # More, never seen by the server: the AppTest runs and the concurrent sessions.
        four_images, four_results = all_images[n_uploads:], all_results[n_uploads:]
        out["server_breakdown_s"] = _breakdown(images[0][1], zoo / "default.safetensors", post)
        out["server_script_runs_apptest"] = _apptest_timings(zoo, four_images[:2], post.threshold)
        env = {
            "GRAINSEG_MODELS_DIR": str(zoo),
            "GRAINSEG_RUNS_DIR": str(tmp / "runs"),
            "GRAINSEG_DATASETS_DIR": str(tmp / "datasets"),
        }
        proc, url = _start_server(env, tmp / "server.log")
        try:
            time.sleep(2)
            rss = {"idle": _rss_mb(proc.pid)}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                start = time.perf_counter()
                page.goto(url)
                _grains(page).wait_for()
                out["landing_first_result_s"] = round(time.perf_counter() - start, 3)
                uploads = [
                    _upload(page, path, r.n_grains)
                    for (path, _), r in zip(images, results, strict=True)
                ]
                out["upload_to_first_result_s"] = {
                    "first": round(uploads[0], 3),
                    "median_of_rest": round(statistics.median(uploads[1:]), 3),
                    "all": [round(t, 3) for t in uploads],
                    "target": 2.0,
                }
                last = results[-1]
                steps, cpu = [], {"server": 0.0, "browser": 0.0}
                server_pids, browser_pids = _descendants(proc.pid), _browser_pids(proc.pid)
                for k in range(1, N_SLIDER_STEPS + 1):
                    moved = dataclasses.replace(post, threshold=round(post.threshold + 0.01 * k, 2))
                    expected = resegment(
                        last.probability, post=moved, pixel_size_um=PIXEL_SIZE_UM
                    ).n_grains
                    before = _cpu_s(server_pids), _cpu_s(browser_pids)
                    steps.append(_slider_step(page, expected))
                    cpu["server"] += _cpu_s(server_pids) - before[0]
                    cpu["browser"] += _cpu_s(browser_pids) - before[1]
                out["slider_to_update_s"] = {
                    "median": round(statistics.median(steps), 3),
                    "all": [round(t, 3) for t in steps],
                    "target": 0.3,
                    # CPU the two sides used per step: they share the machine's cores.
                    "cpu_s_per_step": {k: round(v / N_SLIDER_STEPS, 3) for k, v in cpu.items()},
                }
                rss["one_session"] = _rss_mb(proc.pid)
                context.close()
                if args.quick:
                    browser.close()
                    out["server_rss_mb"] = rss
                    return _finish(out)
                contexts = [
                    browser.new_context(viewport={"width": 1300, "height": 900})
                    for _ in four_images
                ]
                pages = [c.new_page() for c in contexts]
                for p in pages:
                    p.set_default_timeout(TIMEOUT_MS)
                    p.goto(url)
                for p in pages:
                    _grains(p).wait_for()
                for p, r in zip(pages, four_results, strict=True):
                    _arm(p, "change", r.n_grains, None)
                start = time.perf_counter()
                for p, (path, _) in zip(pages, four_images, strict=True):
                    p.get_by_test_id("stFileUploader").filter(
                        has_text="Upload a micrograph"
                    ).locator("input[type=file]").set_input_files(str(path))
                for p in pages:
                    _armed_result_s(p)
                out["four_concurrent_uploads_all_done_s"] = round(time.perf_counter() - start, 3)
                rss["four_sessions"] = _rss_mb(proc.pid)
                for c in contexts:
                    c.close()
                browser.close()
            out["server_rss_mb"] = rss
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    _finish(out)


def _finish(out: dict) -> None:
    out["machine"]["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
