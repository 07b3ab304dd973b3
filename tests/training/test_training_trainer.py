"""train(): run folders, stop and resume, failures, fine-tuning, sparse and side-output nets."""

from __future__ import annotations

import json

import pytest
import torch

from grainseg_core.errors import ConfigError, TrainingError
from grainseg_core.nets import load_model_file
from grainseg_core.training import Callback, TrainConfig, Trainer, train
from grainseg_core.training.runs import iter_metric_records, read_status


def _records(run_dir, kind=None):
    return [
        r
        for r in iter_metric_records(run_dir / "metrics.jsonl")
        if kind is None or r["kind"] == kind
    ]


def _sequence(run_dir):
    return [(r["kind"], r["epoch"], r["step"]) for r in _records(run_dir)]


def _weights(path):
    model, _ = load_model_file(path)
    return model.state_dict()


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_run_folder_is_complete(tiny_config, tmp_path):
    cfg = tiny_config()
    run_dir = tmp_path / "runs" / "r1"
    seen = []
    summary = train(cfg, run_dir, progress=lambda done, total: seen.append((done, total)))
    # 8 training patches, batch 4: 2 steps per epoch, 2 epochs.
    assert (summary.state, summary.steps_done, summary.total_steps, summary.epochs_done) == (
        "finished",
        4,
        4,
        2,
    )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert TrainConfig.from_json(run_dir / "config.json") == cfg
    assert _sequence(run_dir) == [
        ("step", 1, 1),
        ("step", 1, 2),
        ("epoch", 1, 2),
        ("step", 2, 3),
        ("step", 2, 4),
        ("epoch", 2, 4),
    ]
    step = _records(run_dir, "step")[0]
    for key in ("loss", "loss_bce", "lr", "time_s", "samples_per_s", "device", "batch"):
        assert key in step
    assert step["lr"] == cfg.lr and step["device"] == "cpu"
    epoch = _records(run_dir, "epoch")[-1]
    for key in (
        "train_loss",
        "train_loss_bce",
        "val_loss",
        "val_dice",
        "val_f1",
        "val_ari",
        "val_bf1",
        "lr",
        "time_s",
        "samples_per_s",
        "best",
    ):
        assert key in epoch
    status = read_status(run_dir)
    assert status["state"] == "finished" and status["reason"] == "trained 2 epochs"
    assert (status["epoch"], status["step"], status["total_steps"]) == (2, 4, 4)
    assert status["monitor"] == "val_dice" and status["best_epoch"] in (1, 2)
    ckpt = run_dir / "checkpoints"
    names = {p.name for p in ckpt.iterdir()}
    assert names == {
        "best.safetensors",
        "best.json",
        "last.safetensors",
        "last.json",
        "last.state.safetensors",
        "last.state.json",
    }
    model, card = load_model_file(ckpt / "best.safetensors")
    assert card["architecture"] == "slim_unet" and card["init_kwargs"]["base_width"] == 4
    assert card["training"]["run_id"] == "r1"
    assert card["training"]["dataset"]["n_train"] == 8
    assert card["input_normalization"]["method"] == "percentile"
    assert card["metrics"]["val_dice"] == summary.best_value
    assert summary.best_checkpoint.endswith("best.safetensors")
    # last = the weights at the end
    out = model(torch.zeros(1, 1, 64, 64))
    assert out.shape == (1, 1, 64, 64)
    assert not any(p.name.endswith(".tmp") for p in ckpt.iterdir())


def test_stop_mid_epoch_then_resume_is_identical(tiny_config, tmp_path):
    cfg = tiny_config(epochs=3, batch_size=3, augment={"flips": True, "rot90": True})
    full = train(cfg, tmp_path / "full")
    done = {"steps": 0}

    def count(steps, total):
        done["steps"] = steps

    part_dir = tmp_path / "part"
    # 8 patches, batch 3: 3 steps per epoch; stop after step 5 = batch 2 of epoch 2.
    part = train(cfg, part_dir, progress=count, should_stop=lambda: done["steps"] == 5)
    assert (part.state, part.steps_done, part.epochs_done) == ("stopped", 5, 1)
    status = read_status(part_dir)
    assert status["state"] == "stopped" and status["reason"] == "stop requested"
    resumed = train(None, part_dir, resume=True)
    assert resumed.state == "finished" and resumed.steps_done == full.steps_done == 9
    # Same data order, augmentation and RNG: bit-identical weights and logged losses.
    assert _same(
        _weights(tmp_path / "full/checkpoints/last.safetensors"),
        _weights(part_dir / "checkpoints/last.safetensors"),
    )
    assert _sequence(part_dir) == _sequence(tmp_path / "full")
    assert [r["loss"] for r in _records(part_dir, "step")] == [
        r["loss"] for r in _records(tmp_path / "full", "step")
    ]
    assert read_status(part_dir)["segments"] == 2


def test_stop_during_validation_resumes_with_validation(tiny_config, tmp_path):
    cfg = tiny_config(epochs=1)
    # polls: after step 1, after step 2, before validation -> stop there.
    polls = {"n": 0}

    def stop():
        polls["n"] += 1
        return polls["n"] == 3

    part = train(cfg, tmp_path / "r", should_stop=stop)
    assert (part.state, part.steps_done, part.epochs_done) == ("stopped", 2, 0)
    assert _sequence(tmp_path / "r") == [("step", 1, 1), ("step", 1, 2)]
    done = train(None, tmp_path / "r", resume=True)
    assert done.state == "finished"
    assert _sequence(tmp_path / "r") == [("step", 1, 1), ("step", 1, 2), ("epoch", 1, 2)]


def test_resume_drops_lines_logged_after_the_checkpoint(tiny_config, tmp_path):
    run_dir = tmp_path / "r"
    train(tiny_config(epochs=1), run_dir)
    with open(run_dir / "metrics.jsonl", "a") as fh:  # a crash after these were logged
        fh.write(json.dumps({"kind": "step", "epoch": 2, "step": 3}) + "\n")
        fh.write('{"kind": "st')
    cfg2 = TrainConfig.from_json(run_dir / "config.json")
    with pytest.raises(ConfigError, match="a resumed run must keep its config; .*epochs"):
        train(cfg2.replace(epochs=2), run_dir, resume=True)
    done = train(cfg2.replace(num_workers=0, device="cpu"), run_dir, resume=True)
    assert done.steps_done == 2
    assert _sequence(run_dir) == [("step", 1, 1), ("step", 1, 2), ("epoch", 1, 2)]


def test_run_folder_errors(tiny_config, tmp_path):
    cfg = tiny_config(epochs=1)
    train(cfg, tmp_path / "r")
    with pytest.raises(TrainingError, match="holds a started run .*resume it"):
        train(cfg, tmp_path / "r")
    with pytest.raises(TrainingError, match="not a run folder"):
        train(None, tmp_path / "nothing", resume=True)
    with pytest.raises(ConfigError, match="needs a TrainConfig"):
        train(None, tmp_path / "new")
    with pytest.raises(ConfigError, match="dataset folder .* not found"):
        train(cfg.replace(dataset=str(tmp_path / "none")), tmp_path / "new")


def test_nan_loss_marks_failed_and_keeps_checkpoints(tiny_config, tmp_path, monkeypatch):
    original = Trainer.train_step

    def nan_at_step_three(self, images, labels, *, step):
        if step == 2:  # first step of epoch 2
            images = images * float("nan")
        return original(self, images, labels, step=step)

    monkeypatch.setattr(Trainer, "train_step", nan_at_step_three)
    run_dir = tmp_path / "r"
    with pytest.raises(TrainingError, match=r"the loss became nan at step 3"):
        train(tiny_config(epochs=3), run_dir)
    status = read_status(run_dir)
    assert status["state"] == "failed" and "loss became nan" in status["reason"]
    assert (status["epoch"], status["step"]) == (1, 2)
    assert (run_dir / "checkpoints/best.safetensors").is_file()
    weights, card = load_model_file(run_dir / "checkpoints/last.safetensors")
    assert card["training"]["epoch"] == 1
    assert all(
        torch.isfinite(v).all() for v in weights.state_dict().values() if v.is_floating_point()
    )


def test_unexpected_exception_marks_failed(tiny_config, tmp_path):
    class Boom(Callback):
        def on_step_end(self, record):
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        train(tiny_config(), tmp_path / "r", callbacks=[Boom()])
    status = read_status(tmp_path / "r")
    assert status["state"] == "failed" and status["reason"] == "RuntimeError: disk on fire"


def test_early_stopping_and_callback_stop(tiny_config, tmp_path):
    # lr 0: nothing improves after epoch 1.
    s = train(
        tiny_config(epochs=6, lr=1e-12, patience=2, monitor="val_loss", min_delta=1.0),
        tmp_path / "es",
    )
    assert s.state == "finished" and s.epochs_done == 3
    assert s.reason.startswith("early stopping: val_loss did not improve") and s.best_epoch == 1

    class StopNow(Callback):
        def on_epoch_end(self, record):
            return True

    s2 = train(tiny_config(epochs=3), tmp_path / "cb", callbacks=[StopNow()])
    assert (s2.state, s2.epochs_done, s2.reason) == ("stopped", 1, "stopped by a callback")


def test_fine_tune_from_run_with_topo_loss(tiny_config, tmp_path):
    base = train(tiny_config(epochs=1), tmp_path / "bce")
    source = _weights(base.best_checkpoint)
    cfg = tiny_config(
        epochs=1,
        max_steps_per_epoch=1,
        lr=1e-12,  # the parameters barely move: they must start at the source's
        init_from=str(tmp_path / "bce"),
        loss={"terms": [{"name": "bce", "pos_weight": 9}, {"name": "topo", "weight": 0.04}]},
    )
    tuned = train(cfg, tmp_path / "topo")
    after, card = load_model_file(tuned.last_checkpoint)
    params = dict(after.named_parameters())
    for name, value in params.items():
        assert torch.allclose(value, source[name], atol=1e-9), name
    assert card["training"]["init_from"].endswith("best.safetensors")
    step = _records(tmp_path / "topo", "step")[0]
    assert "loss_topo" in step and "loss_bce" in step
    assert step["loss"] == pytest.approx(step["loss_bce"] + 0.04 * step["loss_topo"], rel=1e-5)


def test_pixelnet_sparse_training(tiny_config, tmp_path):
    cfg = tiny_config(
        architecture="pixelnet",
        arch_kwargs={"width": 0.0625, "conv7_channels": 64, "mlp_width": 64},
        epochs=1,
        max_steps_per_epoch=1,
        sparse_pixels=512,
        loss={"terms": [{"name": "focal"}]},
    )
    s = train(cfg, tmp_path / "px")
    assert s.state == "finished"
    assert "loss_focal" in _records(tmp_path / "px", "step")[0]
    trainer = Trainer(cfg)
    assert trainer.sparse_pixels == 512
    assert Trainer(cfg.replace(sparse_pixels=None)).sparse_pixels == 2048


def test_side_outputs_get_deep_supervision(tiny_config, tmp_path):
    cfg = tiny_config(
        architecture="hed", arch_kwargs={"width": 0.0625}, epochs=1, max_steps_per_epoch=1
    )
    train(cfg, tmp_path / "hed")
    step = _records(tmp_path / "hed", "step")[0]
    assert step["loss"] == pytest.approx(step["loss_bce"] + step["loss_side"], rel=1e-5)
    train(cfg.replace(side_loss_weight=0.0), tmp_path / "hed0")
    assert "loss_side" not in _records(tmp_path / "hed0", "step")[0]


def test_freeze_keeps_parameters(tiny_config, tmp_path):
    cfg = tiny_config(epochs=1, freeze=("downs.",), lr=0.1)
    t = Trainer(cfg)
    before = {k: v.clone() for k, v in t.model.named_parameters()}
    x = torch.rand(2, 1, 32, 32)
    t.train_step(x, (x > 0.7).float(), step=0)
    after = dict(t.model.named_parameters())
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("downs."))
    assert not torch.equal(before["head.weight"], after["head.weight"])
    with pytest.raises(ConfigError, match="no parameter of 'slim_unet' starts with 'trunk.'"):
        Trainer(cfg.replace(freeze=("trunk.",)))


def test_no_validation_split_falls_back_to_test(tmp_path):
    from grainseg_core.patching import ImagePair, PatchConfig, export_dataset
    from grainseg_core.synthetic import make_microstructure

    ms = [make_microstructure((64, 64), seed=i, mean_grain_size_px=16) for i in range(3)]
    ds = tmp_path / "noval"
    export_dataset(
        [ImagePair(f"i{i}", m.image, m.boundary) for i, m in enumerate(ms)],
        ds,
        PatchConfig(size=32, split="random_patch", val_fraction=0, test_fraction=0.25),
    )
    cfg = TrainConfig(
        dataset=str(ds),
        arch_kwargs={"base_width": 4, "depth": 2},
        epochs=1,
        max_steps_per_epoch=1,
        batch_size=4,
    )
    with pytest.warns(UserWarning, match="validating on its test split"):
        s = train(cfg, tmp_path / "r")
    assert s.state == "finished"
    status = read_status(tmp_path / "r")
    assert status["val_split"] == "test" and "validating on its test split" in status["notes"][0]


def test_crash_after_timed_save_resumes_mid_epoch(tiny_config, tmp_path):
    cfg = tiny_config(epochs=1, batch_size=3, save_every_min=1e-9)  # save after every step

    class Crash(Callback):
        def on_step_end(self, record):
            if record["step"] == 3:
                raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        train(cfg, tmp_path / "crash", callbacks=[Crash()])
    state = json.loads((tmp_path / "crash/checkpoints/last.state.json").read_text())["trainer"]
    assert (state["epoch"], state["batch"], state["step"]) == (0, 2, 2)
    assert [r["step"] for r in _records(tmp_path / "crash", "step")] == [1, 2, 3]
    done = train(None, tmp_path / "crash", resume=True)
    assert done.state == "finished"
    train(cfg, tmp_path / "clean")
    assert _sequence(tmp_path / "crash") == _sequence(tmp_path / "clean")
    assert _same(
        _weights(tmp_path / "crash/checkpoints/last.safetensors"),
        _weights(tmp_path / "clean/checkpoints/last.safetensors"),
    )
