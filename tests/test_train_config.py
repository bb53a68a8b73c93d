"""The typed experiment config: backbone options decoded into their dataclass when the
config is built, unknown keys refused at once with the closest match, flags derived
from the dataclass fields, versions upgraded."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

import pytest

from workbench.configtree import add_flags, build, coerce, flag_fields, flag_updates, option
from workbench.errors import ConfigError, WorkbenchError
from workbench.models.backbones import BackboneConfigError, UnknownBackboneError
from workbench.models.backbones.mamba import MambaConfig
from workbench.train.config import CONFIG_VERSION, ExperimentConfig, experiment, load_experiment


def test_backbone_options_are_the_registered_dataclass():
    cfg = experiment(backbone="mamba", hidden=32, overrides=["policy.backbone.d_state=4"])
    assert isinstance(cfg.policy.backbone, MambaConfig)
    assert (cfg.policy.backbone.hidden_size, cfg.policy.backbone.d_state) == (32, 4)
    # round trip through JSON (what a checkpoint stores)
    again = ExperimentConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and cfg.to_dict()["policy"]["backbone"]["name"] == "mamba"


@pytest.mark.parametrize(
    "overrides,flags,closest",
    [
        (["policy.backbone.hiden_size=8"], {"backbone": "gru"}, "policy.backbone.hidden_size"),
        (["policy.backbone.d_stat=4"], {"backbone": "mamba"}, "policy.backbone.d_state"),
        (["policy.backbone.hiden_size=8"], {}, "policy.backbone.hidden_size"),  # no --backbone
        (["train.lrr=0.1"], {}, "train.lr"),
        (["trian.lr=0.1"], {}, "train"),
        (["loss.focal_gama=2"], {}, "loss.focal_gamma"),
        (["embed.player.actoin=onehot"], {}, "embed.player.action"),
        ([], {"hiden": 8}, "hidden"),
    ],
)
def test_unknown_keys_name_the_closest_valid_one(overrides, flags, closest):
    with pytest.raises(ConfigError, match=f"did you mean {closest}") as info:
        experiment(overrides=overrides, **flags)
    assert "valid" in str(info.value) and "\n" not in str(info.value)


def test_unknown_key_in_a_yaml_file_fails_before_any_replay_is_read(tmp_path, monkeypatch):
    import workbench.train.data as data
    from workbench.cli import main

    monkeypatch.setattr(data, "ingest", lambda *a, **k: pytest.fail("a replay was read"))
    path = tmp_path / "exp.yaml"
    path.write_text("policy:\n  backbone:\n    name: mamba\n    d_stat: 4\n")
    with pytest.raises(ConfigError, match=r"exp.yaml: unknown option policy.backbone.d_stat.*d_state"):
        experiment(str(path))
    monkeypatch.setenv("WORKBENCH_DEBUG", "1")  # the error itself, not its one-line print
    with pytest.raises(ConfigError, match="d_stat"):
        main(["train", "--config", str(path), "--out", str(tmp_path / "run")])


def test_a_file_backbone_switched_by_a_flag_keeps_only_shared_options(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("policy:\n  backbone: {name: mamba, hidden_size: 24, d_state: 4}\n")
    cfg = experiment(str(path), backbone="gru")  # d_state is not a GRU option: dropped
    assert cfg.policy.backbone.name == "gru" and cfg.policy.backbone.hidden_size == 24
    assert experiment(str(path)).policy.backbone.d_state == 4


def test_values_are_typed():
    cfg = experiment(
        overrides=[
            "train.lr=3e-4",
            "train.characters=fox,marth",
            "train.betas=[0.8, 0.9]",
            "train.stride=null",
            "policy.id_embed_dim.action=16",
        ]
    )
    assert cfg.train.lr == 3e-4 and cfg.train.characters == ["fox", "marth"]
    assert cfg.train.betas == (0.8, 0.9) and cfg.train.stride is None
    assert cfg.policy.id_embed_dim["action"] == 16 and cfg.policy.id_embed_dim["stage"] == 8
    for bad, message in [
        ("train.lr=abc", "expected a number"),
        ("train.window=2.5", "integer"),
        ("train.balance_characters=maybe", "true or false"),
        ("train.betas=[1]", "2 values"),
        ("policy.backbone.dropout=2", "dropout"),
    ]:
        with pytest.raises(ConfigError, match=message):
            experiment(overrides=[bad])


def test_numbers_are_range_checked():
    for override in [
        "train.max_steps=-5",
        "train.epochs=-1",
        "train.batch_size=0",
        "train.time_budget=-1",
        "train.val_fraction=1.5",
        "train.lr=-1",
        "train.keep_last=-1",
        "train.quality_threshold=-0.5",
    ]:
        with pytest.raises(ConfigError):
            experiment(overrides=[override])
    with pytest.raises(ConfigError, match="nothing to train"):
        experiment(epochs=0)


def test_flags_are_derived_from_the_dataclass_fields():
    parser = argparse.ArgumentParser()
    add_flags(parser, ExperimentConfig)
    args = parser.parse_args(
        ["--backbone", "lstm", "--hidden", "16", "--delay", "2-6", "--time-budget", "20m", "--lr", "1e-3"]
    )
    paths = dict(flag_updates(vars(args), ExperimentConfig))
    assert paths["policy.backbone"] == {"name": "lstm"}
    assert paths["policy.backbone.hidden_size"] == 16 and paths["train.lr"] == 1e-3
    assert (paths["train.delay_min"], paths["train.delay_max"]) == (2, 6)
    assert paths["train.time_budget"] == 1200.0
    names = {flag.name for _, flag, _ in flag_fields(ExperimentConfig)}
    assert {
        "--backbone",
        "--hidden",
        "--layers",
        "--window",
        "--delay",
        "--epochs",
        "--max-steps",
        "--time-budget",
        "--stick-centers",
        "--replays",
        "--out",
    } <= names


@dataclass
class Inner:
    rate: float = option(0.5, flag="--rate", help="a new option")
    label: str = "x"


@dataclass
class Root:
    inner: Inner = option(default_factory=Inner)
    steps: int = option(3, flag="--steps")


def test_adding_an_option_is_adding_a_field():
    """A new dataclass field with a flag is a flag, a --set key and a keyword argument."""
    parser = argparse.ArgumentParser()
    add_flags(parser, Root)
    args = parser.parse_args(["--rate", "0.25"])
    built = build(Root, None, flag_updates(vars(args), Root), ["inner.label=y", "steps=4"])
    assert built == Root(Inner(0.25, "y"), 4)
    with pytest.raises(ConfigError, match="did you mean inner.label"):
        build(Root, None, (), ["inner.lable=z"])


def test_config_versions_upgrade(tmp_path):
    saved = ExperimentConfig().to_dict()
    assert saved["version"] == CONFIG_VERSION == 3
    v2 = json.loads(json.dumps(saved))
    v2["version"] = 2
    del v2["policy"]["copy_prior"], v2["policy"]["delay_input"]
    older = ExperimentConfig.from_dict(v2)  # a run from before the copy prior and delay input
    assert not older.policy.copy_prior and not older.policy.delay_input
    assert ExperimentConfig().policy.copy_prior and ExperimentConfig().policy.delay_input
    v1 = json.loads(json.dumps(saved))
    v1["version"] = 1
    del v1["train"]["quality_threshold"], v1["train"]["exclude_flags"]
    old = ExperimentConfig.from_dict(v1)  # a checkpoint written before the quality filters
    assert old.version == CONFIG_VERSION and old.train.exclude_flags == []
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(v1))
    assert load_experiment(str(path)).train.quality_threshold == 0.0
    with pytest.raises(ConfigError, match="newer than this workbench"):
        ExperimentConfig.from_dict({**saved, "version": CONFIG_VERSION + 1})


def test_every_config_error_is_a_workbench_error():
    for cls in (ConfigError, BackboneConfigError, UnknownBackboneError):
        assert issubclass(cls, WorkbenchError) and issubclass(cls, ValueError)
    with pytest.raises(UnknownBackboneError):
        experiment(backbone="transformer-xl")


def test_coerce_keeps_optional_and_nested_types():
    assert coerce(None, int | None, "k") is None and coerce("3", int | None, "k") == 3
    assert coerce([[1, 2]], list[list[float]], "k") == [[1.0, 2.0]]
    with pytest.raises(ConfigError):
        coerce(True, int, "k")


def test_default_paths_live_under_the_project_not_the_current_folder(tmp_path, monkeypatch):
    from workbench.io import project_root

    monkeypatch.chdir(tmp_path)
    cfg = experiment()
    root = project_root()
    assert cfg.replays == [str(root / "data" / "replays")]
    assert cfg.store == str(root / ".cache" / "store") and cfg.out == str(root / "runs" / "default")
    given = experiment(replays="games", out="runs/x")  # typed paths: the current folder
    assert given.replays == [str(tmp_path / "games")] and given.out == str(tmp_path / "runs" / "x")
