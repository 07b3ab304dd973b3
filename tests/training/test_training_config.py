"""TrainConfig: JSON round trip, derived values and every check (static and machine)."""

from __future__ import annotations

import json

import pytest

from grainseg_core.augment import AugmentConfig
from grainseg_core.errors import ConfigError, GrainsegWarning
from grainseg_core.nets import build_model, save_model
from grainseg_core.training import config as config_mod
from grainseg_core.training.config import TrainConfig, check_config

from .conftest import TINY_ARCH


def test_json_round_trip_text_and_file(tmp_path):
    cfg = TrainConfig(
        dataset="ds",
        fold=1,
        arch_kwargs={"base_width": 8, "depth": 3},
        loss={"terms": [{"name": "bce", "pos_weight": 9}, {"name": "topo", "weight": 0.04}]},
        augment=AugmentConfig(rotate_deg=30, scale_range=(0.9, 1.1)),
        freeze=("downs.0.",),
        schedule="step",
        warmup_steps=5,
    )
    assert TrainConfig.from_json(cfg.to_json()) == cfg
    path = tmp_path / "cfg.json"
    path.write_text(cfg.to_json())
    back = TrainConfig.from_json(path)
    assert back == cfg
    assert back.augment.scale_range == (0.9, 1.1)
    assert back.freeze == ("downs.0.",)
    # the dict is plain JSON
    assert json.loads(json.dumps(cfg.to_dict()))["augment"]["rotate_deg"] == 30


def test_derived_values():
    cfg = TrainConfig(
        dataset="ds", loss={"terms": [{"name": "bce"}, {"name": "topo", "weight": 0.04}]}
    )
    assert cfg.loss_summary() == "bce + 0.04*topo"
    assert cfg.loss_names == ["bce", "topo"]
    assert cfg.mode == "max"
    assert TrainConfig(dataset="ds", monitor="val_loss").mode == "min"
    assert TrainConfig(dataset="ds", monitor="val_loss", monitor_mode="max").mode == "max"
    assert TrainConfig(dataset="ds", loss="dice").loss == {"terms": ["dice"]}
    assert TrainConfig(dataset="ds").replace(lr=0.5).lr == 0.5


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"architecture": "unte"},
            r"unknown architecture 'unte'; did you mean 'unet'\?.*slim_unet",
        ),
        ({"loss": {"terms": [{"name": "dcie"}]}}, r"unknown loss 'dcie'; did you mean 'dice'"),
        ({"loss": {"terms": [{"name": "bce", "pos_wieght": 9}]}}, r"no option 'pos_wieght'"),
        ({"lr": 0}, r"lr must be > 0"),
        ({"lr": -1e-3}, r"lr must be > 0"),
        ({"lr": float("nan")}, r"lr must be finite"),
        ({"epochs": 0}, r"epochs must be >= 1"),
        ({"epochs": 2.5}, r"epochs must be an integer"),
        ({"batch_size": 0}, r"batch_size must be >= 1"),
        ({"optimizer": "sgd"}, r"unknown TrainConfig.optimizer 'sgd'.*adam, adamw"),
        ({"schedule": "cosin"}, r"did you mean 'cosine'"),
        ({"monitor": "val_dce"}, r"did you mean 'val_dice'"),
        ({"monitor_mode": "up"}, r"monitor_mode"),
        ({"device": "gpu"}, r"unknown TrainConfig.device 'gpu'"),
        ({"patience": 0}, r"patience must be >= 1"),
        ({"weight_decay": -1}, r"weight_decay must be >= 0"),
        ({"val_threshold": 1.0}, r"val_threshold must lie in \(0, 1\)"),
        ({"gamma": 0}, r"gamma must be > 0"),
        ({"seed": -1}, r"seed must be >= 0"),
        ({"amp": "yes"}, r"amp must be true or false"),
        ({"arch_kwargs": [1]}, r"arch_kwargs must be a dict"),
        ({"dataset": ""}, r"dataset must be the path"),
        ({"sparse_pixels": 100}, r"'slim_unet' has no sparse training"),
        (
            {
                "architecture": "pixelnet",
                "sparse_pixels": 100,
                "loss": {"terms": ["bce", {"name": "topo", "weight": 0.04}]},
            },
            r"\['topo'\] need whole maps.*sparse_pixels=0",
        ),
        ({"augment": {"rotate_deg": 500}}, r"rotate_deg must lie in \[0, 180\]"),
        ({"freeze": [""]}, r"freeze must be a list"),
    ],
)
def test_static_checks(changes, match):
    kwargs = {"dataset": "ds", **changes}
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kwargs)


def test_from_dict_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"'epoch' \(did you mean 'epochs'\?\)"):
        TrainConfig.from_dict({"dataset": "ds", "epoch": 3})
    with pytest.raises(ConfigError, match="needs 'dataset'"):
        TrainConfig.from_dict({"epochs": 3})
    with pytest.raises(ConfigError, match=r"not valid JSON \(line 1"):
        TrainConfig.from_json('{"dataset": ')
    with pytest.raises(ConfigError, match="not found"):
        TrainConfig.from_json(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        TrainConfig.from_dict([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown train config keys"):
        TrainConfig(dataset="ds").replace(nope=1)


def test_check_config_resolves(tiny_dataset):
    checked = check_config(
        TrainConfig(dataset=str(tiny_dataset), arch_kwargs=TINY_ARCH, device="cpu")
    )
    assert checked.device == "cpu"
    assert checked.stored_patch_size == 64 and checked.patch_size == 64
    assert checked.n_folds == 1 and checked.target == "boundary"
    assert (
        check_config(
            TrainConfig(dataset=str(tiny_dataset), arch_kwargs=TINY_ARCH, patch_size=32)
        ).patch_size
        == 32
    )


def test_check_config_machine_errors(tiny_dataset, cv_dataset, tmp_path):
    base = {"dataset": str(tiny_dataset), "arch_kwargs": TINY_ARCH}
    with pytest.raises(ConfigError, match=r"dataset folder '.*nowhere' not found"):
        check_config(TrainConfig(**{**base, "dataset": str(tmp_path / "nowhere")}))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="is not usable: no dataset manifest"):
        check_config(TrainConfig(**{**base, "dataset": str(tmp_path / "empty")}))
    with pytest.raises(
        ConfigError, match=r"patch_size = 128 is larger than the dataset's patches \(64 px"
    ):
        check_config(TrainConfig(**base, patch_size=128))
    with pytest.raises(ConfigError, match=r"must be a multiple of 4 for 'slim_unet'.*try 60"):
        check_config(TrainConfig(**base, patch_size=62))
    with pytest.raises(ConfigError, match="fold = 1, but dataset .* has 1 fold"):
        check_config(TrainConfig(**base, fold=1))
    with pytest.raises(
        ConfigError, match="has 3 cross-validation folds; set TrainConfig.fold to 0..2"
    ):
        check_config(TrainConfig(dataset=str(cv_dataset), arch_kwargs=TINY_ARCH))
    with pytest.raises(ConfigError, match=r"arch_kwargs: .*no option 'widht'"):
        check_config(TrainConfig(dataset=str(tiny_dataset), arch_kwargs={"widht": 2}))
    with pytest.raises(ConfigError, match="sparse_pixels = 5000 exceeds the 4096 pixels"):
        check_config(
            TrainConfig(
                dataset=str(tiny_dataset),
                architecture="pixelnet",
                arch_kwargs={"width": 0.0625},
                sparse_pixels=5000,
            )
        )


def test_cuda_missing(tiny_dataset, monkeypatch):
    monkeypatch.setattr(config_mod, "_cuda_available", lambda: False)
    base = {"dataset": str(tiny_dataset), "arch_kwargs": TINY_ARCH, "device": "cuda"}
    with pytest.raises(ConfigError, match="no CUDA GPU is available.*allow_cpu_fallback=true"):
        check_config(TrainConfig(**base))
    with pytest.warns(GrainsegWarning, match="training on the CPU"):
        checked = check_config(TrainConfig(**base, allow_cpu_fallback=True))
    assert checked.device == "cpu" and "fell back to the CPU" in checked.device_note
    assert check_config(TrainConfig(**{**base, "device": "auto"})).device == "cpu"


def test_init_from_checks(tiny_dataset, tmp_path):
    base = {"dataset": str(tiny_dataset), "arch_kwargs": TINY_ARCH}
    with pytest.raises(ConfigError, match="model file '.*missing.safetensors' not found"):
        check_config(TrainConfig(**base, init_from=str(tmp_path / "missing.safetensors")))
    (tmp_path / "run").mkdir()
    with pytest.raises(ConfigError, match="folder without checkpoints/best.safetensors"):
        check_config(TrainConfig(**base, init_from=str(tmp_path / "run")))
    save_model(build_model("slim_unet", base_width=8, depth=2), tmp_path / "other", card={})
    with pytest.raises(ConfigError, match=r"other options \(base_width"):
        check_config(TrainConfig(**base, init_from=str(tmp_path / "other.safetensors")))
    save_model(build_model("defectsegnet"), tmp_path / "dsn", card={})
    with pytest.raises(ConfigError, match="holds a 'defectsegnet' network.*set architecture"):
        check_config(TrainConfig(**base, init_from=str(tmp_path / "dsn.json")))
    save_model(build_model("slim_unet", **TINY_ARCH), tmp_path / "same", card={})
    checked = check_config(TrainConfig(**base, init_from=str(tmp_path / "same")))
    assert checked.init_path.endswith("same.safetensors")
