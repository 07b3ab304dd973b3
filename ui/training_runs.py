"""The Training page's run views: live monitor, past runs, curves, publish to the zoo.

Everything shown comes from the run folders (``config.json``, ``status.json``,
``metrics.jsonl``) through :mod:`grainseg_core.training`; the session only remembers which
run is selected. So a browser refresh, a second tab or a restarted server shows the same
runs, and the training processes never depend on the page.

The live panel is an ``st.fragment(run_every=...)``: while the selected run is starting or
running it re-reads the run folder every :data:`POLL_S` seconds without rerunning the page;
when the run ends it triggers one full rerun, which draws the static panel.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from grainseg_core.figures import training_curves_figure
from grainseg_core.training import (
    RunInfo,
    is_run_dir,
    publish_run,
    read_metrics,
    resume_run,
    run_info,
    stop_run,
)
from ui import state
from ui.errors import user_errors
from ui.training_form import SELECTED_RUN

__all__ = [
    "POLL_S",
    "LIVE_STATES",
    "epoch_series",
    "format_seconds",
    "runs_table",
    "render_run_panel",
    "render_runs_overview",
    "render_publish",
]

#: Seconds between two reads of a live run's folder.
POLL_S = 2.0
#: States in which a run's folder still changes.
LIVE_STATES = ("starting", "running")
# Material icons (Streamlit markdown): emoji fonts are missing on many servers and browsers.
_STATE_ICON = {
    "starting": ":material/hourglass_top:",
    "running": ":material/play_circle:",
    "finished": ":material/check_circle:",
    "stopped": ":material/pause_circle:",
    "failed": ":material/error:",
}


def format_seconds(value: float | None) -> str:
    """``"1 h 02 min"``, ``"3 min 05 s"``, ``"12 s"``, or ``"-"`` when unknown.

    Examples
    --------
    >>> format_seconds(3725), format_seconds(185), format_seconds(None)
    ('1 h 02 min', '3 min 05 s', '-')
    """
    if value is None or not math.isfinite(float(value)) or value < 0:
        return "-"
    s = int(round(float(value)))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def epoch_series(columns: list[str], monitor: str = "val_dice") -> list[str]:
    """The epoch-record columns worth plotting: losses, the monitored metric, ARI and boundary F1.

    Examples
    --------
    >>> epoch_series(["epoch", "train_loss", "train_loss_bce", "val_loss", "val_dice", "val_iou",
    ...               "val_ari", "val_patches", "lr"])
    ['train_loss', 'val_loss', 'val_dice', 'val_ari']
    """
    wanted = ["train_loss", "val_loss", monitor, "val_dice", "val_ari", "val_bf1"]
    out: list[str] = []
    for c in wanted:
        if c in columns and c not in out:
            out.append(c)
    return out


def _records(df: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    keep = [c for c in columns if c in df.columns]
    return df[keep].to_dict("records") if keep else []


def runs_table(runs: list[RunInfo]) -> pd.DataFrame:
    """One row per run for ``st.dataframe``, newest first."""
    rows = []
    for r in reversed(runs):
        rows.append(
            {
                "run": r.run_id,
                "state": r.state,
                "name": r.name,
                "architecture": r.architecture,
                "loss": r.loss,
                "dataset": Path(r.dataset).name if r.dataset else "",
                "epochs": f"{r.epoch}/{r.epochs}",
                "best": f"{r.monitor} {r.best_value:.4f} (epoch {r.best_epoch})"
                if r.best_value is not None
                else "",
                "elapsed": format_seconds(r.elapsed_s),
                "device": r.device,
            }
        )
    return pd.DataFrame(rows)


def _draw_status(info: RunInfo) -> None:
    icon = _STATE_ICON.get(info.state, "")
    reason = f": {info.reason}" if info.reason else ""
    st.markdown(f"**Run `{info.run_id}`** {icon} **{info.state}**{reason}")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Epoch", f"{info.epoch} / {info.epochs}")
    c2.metric("Elapsed", format_seconds(info.elapsed_s))
    c3.metric("ETA", format_seconds(info.eta_s) if info.state in LIVE_STATES else "-")
    best = f"{info.best_value:.4f}" if info.best_value is not None else "-"
    c4.metric(f"Best {info.monitor}" if info.monitor else "Best", best)
    if info.total_steps:
        st.progress(
            min(1.0, info.step / info.total_steps), text=f"step {info.step} of {info.total_steps}"
        )
    st.caption(
        f"{info.architecture} | loss {info.loss} | dataset {Path(info.dataset).name} | "
        f"device {info.device or '?'}"
    )


def _tidy(fig) -> Any:
    # Legend under the plot: above it, it collides with the title in a narrow column.
    fig.update_layout(
        legend=dict(orientation="h", yanchor="top", y=-0.25, xanchor="left", x=0.0),
        margin=dict(t=60, b=40),
    )
    return fig


def _draw_curves(run_dir: Path, key: str, monitor: str = "val_dice") -> None:
    df = read_metrics(run_dir)
    if df.empty or "kind" not in df.columns:
        st.info("No training record yet: the first curve points appear after the first steps.")
        return
    epochs = df[df["kind"] == "epoch"]
    steps = df[df["kind"] == "step"]
    c1, c2 = st.columns(2)
    with c1:
        if not epochs.empty:
            series = epoch_series(list(epochs.columns), monitor)
            fig = training_curves_figure(
                _records(epochs, ["epoch", *series]),
                x="epoch",
                series=series,
                title="Loss and validation metrics per epoch",
            )
        else:
            fig = training_curves_figure([], title="Loss and validation metrics per epoch")
        st.plotly_chart(_tidy(fig), key=f"{key}_epochs")
    with c2:
        step_series = [c for c in ("loss",) if c in steps.columns]
        fig = training_curves_figure(
            _records(steps, ["step", *step_series]),
            x="step",
            series=step_series or None,
            title="Training loss per step",
        )
        st.plotly_chart(_tidy(fig), key=f"{key}_steps")


def _controls(info: RunInfo, key: str) -> None:
    c1, c2, _ = st.columns([1, 1, 4])
    run_dir = Path(info.run_dir)
    if info.state in LIVE_STATES:
        if c1.button(
            "Stop",
            key=f"{key}_stop",
            help="The run finishes its step, saves and stops; resume later.",
        ):
            with user_errors("stopping the run"):
                if stop_run(run_dir):
                    st.toast("Stop requested: the run saves its checkpoint and stops.")
                else:
                    st.info("The run is not running any more.")
    elif info.state in ("stopped", "failed"):
        if c2.button("Resume", key=f"{key}_resume", help="Continue from the last checkpoint."):
            with user_errors("resuming the run"):
                resume_run(run_dir)
                st.rerun()


@st.fragment(run_every=POLL_S)
def _live_panel(run_dir: str) -> None:
    # Reads this one run folder per poll (not the whole runs list).
    folder = Path(run_dir)
    if not is_run_dir(folder):
        st.warning(f"Run {folder.name} is gone from {folder.parent}.")
        return
    info = run_info(folder)
    _draw_status(info)
    _controls(info, "tr_live")
    _draw_curves(folder, "tr_live", info.monitor or "val_dice")
    if info.state not in LIVE_STATES:
        st.rerun()  # the run ended: redraw the whole page (static panel, publish form)


def render_run_panel(info: RunInfo) -> None:
    """Status, controls and curves of one run: live (polling) while it runs, static after.

    Parameters
    ----------
    info : RunInfo
        The run as :func:`render_runs_overview` returned it (read in this rerun).
    """
    if info.state in LIVE_STATES:
        _live_panel(info.run_dir)
    else:
        _draw_status(info)
        _controls(info, "tr_static")
        _draw_curves(Path(info.run_dir), "tr_static", info.monitor or "val_dice")


def render_runs_overview(runs: list[RunInfo]) -> RunInfo | None:
    """The table of runs and the run selector; returns the selected run."""
    if not runs:
        st.info("No run yet. Start one with the form above.")
        return None
    st.dataframe(runs_table(runs), hide_index=True, width="stretch")
    ids = [r.run_id for r in reversed(runs)]
    wanted = st.session_state.get(SELECTED_RUN)
    if wanted not in ids:
        live = [r.run_id for r in reversed(runs) if r.state in LIVE_STATES]
        wanted = live[0] if live else ids[0]
    by_id = {r.run_id: r for r in runs}
    chosen = st.selectbox(
        "Show run",
        ids,
        index=ids.index(wanted),
        key="tr_show_run",
        format_func=lambda i: f"{i}  ({by_id[i].name})" if by_id[i].name else i,
    )
    st.session_state[SELECTED_RUN] = chosen
    return by_id[chosen]


def render_compare_curves(runs: list[RunInfo]) -> None:
    """One validation metric of several runs on one chart."""
    done = [r for r in runs if r.epoch > 0]
    if len(done) < 2:
        return
    with st.expander("Compare the curves of several runs"):
        ids = [r.run_id for r in reversed(done)]
        chosen = st.multiselect("Runs", ids, default=ids[:2], key="tr_cmp_runs")
        metric = st.selectbox(
            "Metric",
            ["val_dice", "val_loss", "train_loss", "val_ari", "val_bf1", "val_f1"],
            key="tr_cmp_metric",
        )
        by_id = {r.run_id: r for r in runs}
        records: list[dict[str, Any]] = []
        for rid in chosen:
            df = read_metrics(by_id[rid].run_dir, kind="epoch")
            if metric in df.columns:
                records += [
                    {"epoch": e, rid: v} for e, v in zip(df["epoch"], df[metric], strict=False)
                ]
        fig = training_curves_figure(records, x="epoch", series=chosen or None, title=metric)
        st.plotly_chart(fig, key="tr_cmp_fig")


def render_publish(info: RunInfo) -> None:
    """Publish the run's best checkpoint to the model zoo, with its card."""
    best = Path(info.run_dir) / "checkpoints" / "best.safetensors"
    if not best.is_file():
        if info.state not in LIVE_STATES:
            st.caption(
                "This run has no best checkpoint (no epoch was validated), so it cannot be "
                "published."
            )
        return
    with st.expander("Publish this run's best model to the zoo"):
        with st.form("tr_publish"):
            default = (info.name or info.run_id).replace(" ", "_")[:60]
            name = st.text_input(
                "Model name",
                value=default,
                key="tr_pub_name",
                help="Letters, digits, '_', '-', '.'; the files become <name>.safetensors "
                "+ <name>.json.",
            )
            title = st.text_input("Title", value="", key="tr_pub_title")
            description = st.text_area("Description", value="", key="tr_pub_desc")
            roles = st.multiselect(
                "Zoo roles",
                ["default", "ensemble", "compare_bce", "compare_topo"],
                key="tr_pub_roles",
                help="default: used when no model is chosen; ensemble: averaged with the default "
                "for the sidebar's 'Most accurate' choice; compare_bce / compare_topo: the "
                "Compare page's pair.",
            )
            overwrite = st.checkbox("Replace a model of that name", key="tr_pub_over")
            go = st.form_submit_button("Publish")
        if go:
            with user_errors("publishing the model"):
                path = publish_run(
                    info.run_dir,
                    state.models_root(),
                    name.strip(),
                    title=title.strip() or None,
                    description=description.strip(),
                    roles=roles,
                    overwrite=overwrite,
                )
                st.success(
                    f"Published **{path.stem}** to `{path.parent}`; choose it in the sidebar."
                )
                card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
                st.json(
                    {
                        k: card.get(k)
                        for k in ("name", "architecture", "zoo", "source_run", "metrics")
                        if k in card
                    },
                    expanded=False,
                )
