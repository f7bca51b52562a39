"""Training: it learns, it is deterministic, it resumes exactly, configs fail clearly, fine-tuning helps."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from wearsense.errors import ConfigError
from wearsense.fusion import train as train_module
from wearsense.fusion.checkpoint import load_checkpoint, read_checkpoint
from wearsense.fusion.model import FusionModel
from wearsense.fusion.train import (PRESETS, TrainConfig, angle_errors, finetune, load_config, split_minutes,
                                    train)

from synthetic_takes import make_take, make_takes

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    return make_takes(4, seed=0, seconds=10), make_takes(2, seed=1, seconds=10)


def weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_training_learns_and_validates(data, tmp_path):
    tr, va = data
    cfg = load_config("tiny", steps=80, val_every=40)
    untrained = FusionModel.build(cfg.model, tr)
    result = train(cfg, tr, va, out=tmp_path)
    assert [h["step"] for h in result.history] == [40, 80]
    last = result.history[-1]
    assert set(last["val"]) == set(cfg.val_conditions)
    assert len(last["val"]["all"]["angle_mae_deg"]) == len(tr[0].spec.horizons_ms)
    before = angle_errors(untrained, va).mean()
    after = angle_errors(result.model, va).mean()
    assert after < 0.75 * before
    saved = load_checkpoint(tmp_path / "model.pt")
    np.testing.assert_array_equal(weights(saved), weights(result.model))
    assert saved.history == result.history
    assert read_checkpoint(tmp_path / "model.pt")["train"]["steps"] == 80
    # after training, each condition's motion deadband is chosen on the validation takes, and saved
    conds = list(dict.fromkeys([*cfg.conditions, *cfg.val_conditions]))
    again = copy.deepcopy(result.model)
    again.deadband_angles.zero_()
    again.fit_deadband(va, conds)
    assert result.model.deadband_angles.sum() > 0
    assert torch.equal(again.deadband_angles, result.model.deadband_angles)
    assert torch.equal(saved.deadband_angles, result.model.deadband_angles)


def test_same_seed_same_model_other_seed_other_model(data):
    tr, _ = data
    cfg = load_config("tiny", steps=10)
    a, b = train(cfg, tr).model, train(cfg, tr).model
    c = train(replace(cfg, seed=1), tr).model
    assert torch.equal(weights(a), weights(b))
    assert not torch.equal(weights(a), weights(c))


def test_a_resumed_run_ends_where_the_uninterrupted_one_does(data, tmp_path, monkeypatch):
    tr, va = data
    cfg = load_config("tiny", steps=20, checkpoint_every=10, val_every=10)
    whole = train(cfg, tr, va).model
    real_batch = train_module._batch
    calls = {"n": 0}

    def dies_at_step_15(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 16:
            raise KeyboardInterrupt
        return real_batch(*args, **kw)

    monkeypatch.setattr(train_module, "_batch", dies_at_step_15)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tr, out=tmp_path)
    assert read_checkpoint(tmp_path / "last.pt")["resume"]["step"] == 10
    monkeypatch.setattr(train_module, "_batch", real_batch)
    resumed = train(cfg, tr, va, out=tmp_path, resume=True)
    torch.testing.assert_close(weights(resumed.model), weights(whole), rtol=0, atol=1e-6)


def test_presets_load_and_bad_configs_name_the_problem(tmp_path):
    for name in PRESETS:
        assert isinstance(load_config(name), TrainConfig)
    bad = tmp_path / "c.toml"
    bad.write_text("steps = 10\nlearning_rate = 3\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        load_config(bad)
    bad.write_text("[model]\nd_model = 64\nlayers = 3\n")
    with pytest.raises(ConfigError, match=r"\[model\].*layers"):
        load_config(bad)
    bad.write_text("steps = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    bad.write_text('conditions = ["all", "mocap"]\n')
    with pytest.raises(ConfigError, match="mocap"):
        load_config(bad)
    with pytest.raises(ConfigError, match="neither a file nor a preset"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="no training takes"):
        train(load_config("tiny"), [])


def test_finetuning_on_a_new_mover_helps_on_that_mover():
    """Movers differ in EMG amplitude: a few of the new mover's takes lower the error on that
    mover's other takes, while the error on the movers trained on stays where it was (it
    personalised; it did not merely train longer)."""
    base = train(load_config("tiny", steps=120, val_every=120), make_takes(4, seed=0, seconds=10)).model
    mover = [make_take(500 + i, seconds=10, gain=6.0, mover="new") for i in range(3)]
    held_out = [make_take(600 + i, seconds=10, gain=6.0, mover="new") for i in range(2)]
    old = make_takes(2, seed=1, seconds=10)
    before = angle_errors(base, held_out, "inside_out").mean()
    tuned = finetune(base, mover, load_config("finetune", steps=60, val_every=60, seq_len=48, batch_size=4,
                                              lr=1e-3))
    after = angle_errors(tuned.model, held_out, "inside_out").mean()
    gain_old = (angle_errors(base, old, "inside_out").mean()
                - angle_errors(tuned.model, old, "inside_out").mean())
    assert after < 0.95 * before
    assert before - after > 3 * max(gain_old, 0.05)
    assert torch.equal(weights(base), weights(base))  # the original stays as it was
    assert tuned.model.cfg == base.cfg
    torch.testing.assert_close(tuned.model.norm.emg_mean, base.norm.emg_mean)


def test_split_minutes_cuts_in_time_and_drops_slivers():
    takes = [make_take(i, seconds=10) for i in range(3)]
    n = len(takes[0])
    tune, rest = split_minutes(takes, minutes=(n + n // 2) / 60 / 60)
    assert [len(t) for t in tune] == [n, n // 2]
    assert [len(t) for t in rest] == [len(takes[1]) - n // 2, len(takes[2])]
    np.testing.assert_array_equal(rest[0].t[0], takes[1].t[n // 2])
    tune, rest = split_minutes(takes, minutes=1 / 60)  # 1 s: a sliver, dropped
    assert tune == [] and len(rest) == 3


@pytest.mark.slow
def test_wearsense_train_makes_a_sim_dataset_trains_and_resumes(tmp_path, capsys):
    from wearsense.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(
        (train_module.CONFIG_DIR / "tiny.toml").read_text()
        + f'\n[data]\nsource = "make_sim"\npath = "{tmp_path / "sim"}"\nmovers = 6\nminutes = 0.5\n'
    )
    out = tmp_path / "run"
    assert main(["train", str(cfg), "-o", str(out), "--no-progress", "--steps", "6"]) == 0
    said = capsys.readouterr().out
    assert '"checkpoint"' in said and "val all: joint-angle MAE (deg)" in said
    model = load_checkpoint(out / "model.pt")
    assert model.dims["C"] == 8 and model.names["emg"][0] == "biceps_brachii_r"
    assert main(["train", str(cfg), "-o", str(out), "--no-progress", "--steps", "8", "--resume"]) == 0
    assert read_checkpoint(out / "last.pt")["resume"]["step"] == 8
    tuned = tmp_path / "tuned.pt"
    assert main(["finetune", str(out / "model.pt"), "--data", str(tmp_path / "sim"), "--mover", "mover-00000",
                 "--minutes", "0.2", "--config", "tiny", "-o", str(tuned), "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert "fine-tuned on 0.2 min of mover-00000" in said and "condition all:" in said and " -> " in said
    assert load_checkpoint(tuned).cfg == model.cfg


def test_the_training_curve_plots_without_a_backend(data):
    from wearsense.fusion.train import plot_history

    tr, va = data
    history = train(load_config("tiny", steps=4, val_every=2), tr, va).history
    fig = plot_history(history)
    assert len(fig.axes) == 2 and fig.axes[0].get_lines()


def test_train_only_freezes_everything_else(data):
    tr, _ = data
    base = train(load_config("tiny", steps=4), tr).model
    tuned = finetune(base, tr[:1], load_config("finetune", steps=4, batch_size=4, seq_len=48)).model
    moved = {name for (name, before), after in zip(base.named_parameters(), tuned.parameters())
             if not torch.equal(before, after)}
    assert moved and all(name.startswith(("tokens.", "pool.")) for name in moved)
    assert {"tokens.emg_in.weight", "pool.kv.weight"} <= moved
    with pytest.raises(ConfigError, match="matches no parameter"):
        finetune(base, tr[:1], load_config("finetune", steps=2, train_only=["nothing."]))


def _rotmat(q):
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                     2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                     2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1
                    ).reshape(q.shape[:-1] + (3, 3))


def test_turned_mounts_are_what_a_turned_sensor_measures():
    rng = np.random.default_rng(3)
    rq = train_module.mount_rotations(rng, 6, 10.0)
    rot = _rotmat(rq)
    assert np.allclose(np.linalg.norm(rq, axis=1), 1.0)
    assert np.allclose(rot @ rot.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    turned_deg = np.degrees(np.arccos(np.clip((np.trace(rot, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert (turned_deg <= 10.0 + 1e-9).all() and turned_deg.max() > 1.0
    q = rng.standard_normal((4, 6, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    imu = np.concatenate([q, rng.standard_normal((4, 6, 6))], axis=-1).astype(np.float32)
    imu[2, 3] = 0.0  # a missing sample stays missing
    out = train_module.turn_mounts(imu, np.broadcast_to(rq, (4, 6, 4)))
    ok = np.ones((4, 6), bool)
    ok[2, 3] = False
    # the sensor frame is turned: R' = R r, so a world direction reads r^T (its old reading)
    np.testing.assert_allclose(_rotmat(out[..., :4].astype(np.float64))[ok],
                               (_rotmat(q) @ rot[None])[ok], atol=1e-5)
    for base in (4, 7):  # gyro and accelerometer in the new sensor axes
        np.testing.assert_allclose(out[..., base:base + 3],
                                   np.einsum("sji,bsj->bsi", rot, imu[..., base:base + 3]), atol=1e-5)
    assert not out[2, 3].any()
    same = train_module.turn_mounts(imu, np.broadcast_to([1.0, 0, 0, 0], (4, 6, 4)))
    np.testing.assert_allclose(same, imu, atol=1e-6)


def test_mount_jitter_trains_deterministically_and_changes_the_model(data):
    tr, _ = data
    cfg = load_config("tiny", steps=10, mount_jitter_deg=10.0)
    a, b = train(cfg, tr).model, train(cfg, tr).model
    plain = train(replace(cfg, mount_jitter_deg=0.0), tr).model
    assert torch.equal(weights(a), weights(b))
    assert not torch.equal(weights(a), weights(plain))


def test_keep_best_ends_on_the_best_validation_weights(data):
    tr, va = data
    tiny = load_config("tiny")
    model_cfg = {**tiny.to_dict()["model"], "readout": True}
    # a learning rate that wrecks the model: the read-out alone (step 0) validates best
    cfg = load_config("tiny", steps=20, val_every=10, warmup_steps=0, lr=20.0, keep_best=True,
                      model=model_cfg)
    wrecked = train(cfg, tr, va)
    assert wrecked.model.best_step == 0 and wrecked.history[-1]["kept_step"] == 0
    assert not wrecked.model.head_angles.weight.any()  # the heads as they started: zero
    plain = train(replace(cfg, keep_best=False), tr, va).model
    assert plain.head_angles.weight.any()
    assert angle_errors(wrecked.model, va).mean() < angle_errors(plain, va).mean()
    # a sound run keeps a later step, and without validation takes nothing is kept
    sound = train(replace(cfg, lr=3e-3, steps=40, val_every=20), tr, va).model
    assert sound.best_step in (0, 20, 40)
    assert not hasattr(train(cfg, tr).model, "best_step")
