"""The fusion model: causal, streaming equals offline, masks instead of zeros, safe checkpoints."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from wearsense.errors import ConfigError, FormatError
from wearsense.fusion.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from wearsense.fusion.frames import CONDITIONS
from wearsense.fusion.model import FusionModel, ModelConfig
from wearsense.fusion.tokens import FRAME_FIELDS, apply_condition

from synthetic_takes import make_take

torch.set_num_threads(1)


def random_model(conditioning: str = "adaln", window: int = 16, seed: int = 0, readout: bool = False
                 ) -> FusionModel:
    """A small model with every weight random (adaLN gates included, which start at zero);
    with ``readout``, its linear read-out fitted on two takes first."""
    take = make_take(seed, seconds=3)
    model = FusionModel.build(ModelConfig(d_model=32, heads=2, motion_layers=2, window=window,
                                          conditioning=conditioning, readout=readout), [take])
    if readout:
        model.readout.fit(model, [take], [make_take(seed + 1, seconds=3)])
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.3 if p.ndim > 1 else 0.1))
    return model.eval()


def frames(take, i):
    return {k: getattr(take, k)[i] for k in FRAME_FIELDS}


@pytest.fixture(scope="module")
def take():
    return make_take(5, seconds=2.5)


@pytest.mark.parametrize("conditioning,readout", [("adaln", False), ("cross", False), ("adaln", True)])
@pytest.mark.parametrize("condition", ["all", "camera", "inside_out"])
def test_stepping_equals_predict_take(take, conditioning, condition, readout):
    model = random_model(conditioning, readout=readout)
    whole = model.predict_take(take, condition, block=len(take))
    blocks = model.predict_take(take, condition, block=7)  # blocks cross the window edge
    stream = model.stream(condition)
    steps = [stream.step(frames(take, i)) for i in range(len(take))]
    assert len(take) > 4 * model.cfg.window  # the rolling cache wraps many times
    for pred in (blocks,):
        np.testing.assert_allclose(pred.angles, whole.angles, atol=1e-4)
    np.testing.assert_allclose(np.stack([s.angles for s in steps]), whole.angles, atol=1e-4)
    np.testing.assert_allclose(np.stack([s.kp for s in steps]), whole.kp, atol=1e-5)
    np.testing.assert_allclose([s.surprise for s in steps], whole.surprise, atol=1e-4)
    assert whole.angles.shape == (len(take), len(take.spec.horizons_ms), take.y_angles.shape[2])
    assert whole.kp.shape == take.y_kp.shape


@pytest.mark.parametrize("conditioning,readout", [("adaln", False), ("cross", False), ("adaln", True)])
def test_no_prediction_depends_on_a_later_step(conditioning, readout):
    take = make_take(5, seconds=2.5)
    model = random_model(conditioning, readout=readout)
    before = model.predict_take(take, "all")
    now = len(take) // 2
    rng = np.random.default_rng(0)
    later = slice(now + 1, None)
    for name in FRAME_FIELDS[1:]:
        a = getattr(take, name).copy()
        if a.dtype == bool:
            a[later] = ~a[later]
        else:
            a[later] = rng.normal(0, 5, a[later].shape).astype(a.dtype)
        setattr(take, name, a)
    after = model.predict_take(take, "all")
    np.testing.assert_array_equal(after.angles[:now + 1], before.angles[:now + 1])
    np.testing.assert_array_equal(after.kp[:now + 1], before.kp[:now + 1])
    np.testing.assert_array_equal(after.surprise[:now + 1], before.surprise[:now + 1])
    assert not np.allclose(after.angles[now + 1:], before.angles[now + 1:])


@pytest.mark.parametrize("readout", [False, True])
def test_absent_values_are_masked_not_read(take, readout):
    """Whatever lies under a cleared flag (NaN here) never reaches a prediction."""
    model = random_model(readout=readout)
    base = model.predict_take(take, "all")
    garbled = make_take(5, seconds=2.5)
    garbled.emg_ok[:, 0] = False
    garbled.emg[:, 0] = np.nan
    garbled.pose_ok[10:20] = False
    garbled.pose[10:20] = np.nan
    garbled.events[~garbled.events_ok] = np.nan
    again = make_take(5, seconds=2.5)
    again.emg_ok[:, 0] = False
    again.emg[:, 0] = 123.0
    again.pose_ok[10:20] = False
    a = model.predict_take(garbled, "all")
    b = model.predict_take(again, "all")
    assert np.isfinite(a.angles).all()
    np.testing.assert_allclose(a.angles, b.angles, atol=1e-5)
    assert not np.allclose(a.angles, base.angles)  # a missing channel is information: the mask token


@pytest.mark.parametrize("readout", [False, True])
@pytest.mark.parametrize("condition", sorted(CONDITIONS))
def test_a_condition_sees_only_its_modalities(take, condition, readout):
    model = random_model(readout=readout)
    base = model.predict_take(take, condition)
    seen = CONDITIONS[condition]
    for modality in ("emg", "imu", "events", "pose"):
        other = make_take(5, seconds=2.5)
        late = other.t - other.t[0] > other.spec.pose_start_s
        values = getattr(other, modality)
        values[late] = values[late] + 1.0
        changed = model.predict_take(other, condition)
        differs = not np.allclose(changed.angles, base.angles, atol=1e-6)
        if modality == "events" and not other.events_ok[late].any():
            continue
        assert differs == (modality in seen), (condition, modality)


def test_the_readout_alone_is_the_closed_form_ridge_and_heads_start_at_zero():
    """Fitted before training, with the transformer's heads at zero, the model predicts
    what the read-out's ridge regression gives, far better than the untrained model."""
    train_takes = [make_take(s, seconds=8) for s in range(3)]
    val = [make_take(9, seconds=8)]
    cfg = ModelConfig(d_model=32, heads=2, motion_layers=1, readout=True)
    model = FusionModel.build(cfg, train_takes)
    plain = FusionModel.build(ModelConfig(d_model=32, heads=2, motion_layers=1), train_takes)
    assert not model.head_angles.weight.any() and not model.head_angles.bias.any()
    choices = model.readout.fit(model, train_takes, val)
    assert set(choices) == set(CONDITIONS) and model.readout.fitted.all()

    def err(m, c):
        p = m.predict_take(val[0], c)
        return float(np.nanmean(np.abs(p.angles - val[0].y_angles)))

    for c in ("camera", "all"):
        assert err(model, c) < 0.8 * err(plain, c), c
    # the read-out is least squares: on its own training steps it is no worse than any
    # other linear map of its features, e.g. its coefficients shrunk towards zero
    ro = model.readout
    ci = list(CONDITIONS).index("all")
    fitted = ro.coef[ci].clone()
    train_err = np.mean([err_on(model, t) for t in train_takes])
    with torch.no_grad():
        ro.coef[ci] *= 0.8
    assert np.mean([err_on(model, t) for t in train_takes]) > train_err
    with torch.no_grad():
        ro.coef[ci] = fitted
    with pytest.raises(ConfigError, match="condition="):
        model(*model.frames_of(val[0], "all"))


def err_on(model, take):
    p = model.predict_take(take, "all")
    return float(np.nanmean(np.abs(p.angles - take.y_angles)))


def test_conditions_without_pose_see_the_starting_posture():
    take = make_take(1, seconds=2)
    since = take.t - take.t[0]
    seen = apply_condition({k: getattr(take, k) for k in FRAME_FIELDS}, "inside_out", since,
                           take.spec.pose_start_s)
    assert seen["pose_ok"][since <= 0.5].all() and not seen["pose_ok"][since > 0.5].any()
    assert (seen["emg_ok"] == take.emg_ok).all()
    with pytest.raises(ConfigError, match="camera_imu"):
        apply_condition(seen, "kamera", since, 0.5)


def test_checkpoint_round_trip(tmp_path, take):
    model = random_model("cross")
    model.history = [{"step": 1, "train_loss": 0.5}]
    path = save_checkpoint(model, tmp_path / "m.pt", train={"seed": 3})
    back = load_checkpoint(path)
    np.testing.assert_array_equal(back.predict_take(take).angles, model.predict_take(take).angles)
    assert back.cfg == model.cfg and back.spec == model.spec and back.names == model.names
    assert back.history == model.history and read_checkpoint(path)["train"] == {"seed": 3}
    stats = read_checkpoint(path)["state_dict"]
    assert "norm.emg_mean" in stats and "norm.angles_std" in stats  # training statistics travel along


class _Boom:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_checkpoint_holding_code_is_refused_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "evil.pt"
    torch.save({"format": "wearsense-fusion", "version": 1, "state_dict": _Boom()}, bad)
    with pytest.raises(FormatError, match="never loaded with code"):
        load_checkpoint(bad)
    assert not (tmp_path / "PWNED").exists()
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(FormatError):
        load_checkpoint(plain)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(FormatError, match="not a wearsense fusion checkpoint"):
        load_checkpoint(other)


def test_a_take_of_another_layout_is_refused(take):
    model = random_model()
    other = make_take(1, seconds=1)
    other.emg = other.emg[:, :2]
    other.emg_ok = other.emg_ok[:, :2]
    with pytest.raises(ConfigError, match="sizes"):
        model.predict_take(other)
    with pytest.raises(ConfigError, match="choose one of"):
        model.predict_take(take, "everything")


def test_model_config_errors_name_the_setting():
    with pytest.raises(ConfigError, match="conditioning"):
        ModelConfig(conditioning="film")
    with pytest.raises(ConfigError, match="window"):
        ModelConfig(window=1)
    with pytest.raises(ConfigError, match="unknown"):
        ModelConfig.from_dict({"d_modle": 3})


def test_the_shipped_checkpoint_is_small_safe_and_runs():
    from wearsense.fusion.checkpoint import DEFAULT_CHECKPOINT, default_checkpoint

    assert DEFAULT_CHECKPOINT.stat().st_size <= 5_000_000
    model = default_checkpoint()  # weights_only=True inside
    assert model.history and "val" in model.history[-1]
    from wearsense.fusion.train import load_config

    made_with = read_checkpoint(DEFAULT_CHECKPOINT)["train"]
    ship = load_config("ship")
    # settings added since the checkpoint was made take their defaults
    assert made_with["steps"] == ship.steps and ModelConfig.from_dict(made_with["model"]) == ship.model
    d = model.dims
    assert (d["C"], d["S"], d["J"], d["Q"]) == (8, 4, 20, 20) and len(model.names["emg"]) == 8
    frame = {"t": 5.0, "emg": np.ones((d["C"], d["P"]), np.float32), "emg_ok": np.ones(d["C"], bool),
             "imu": np.zeros((d["S"], d["F"]), np.float32), "imu_ok": np.ones(d["S"], bool),
             "pose": np.zeros(d["D"], np.float32), "pose_age": 0.06, "pose_ok": True,
             "events": np.zeros((d["E"], 2), np.float32), "events_ok": np.zeros(d["E"], bool)}
    out = model.stream("all").step(frame)
    assert out.angles.shape == (d["H"], d["J"]) and np.isfinite(out.angles).all() and np.isnan(out.surprise)


def test_readout_coefficients_are_stored_in_half_and_read_back_the_same(tmp_path, take):
    model = random_model(readout=True)
    path = save_checkpoint(model, tmp_path / "ro.pt")
    assert read_checkpoint(path)["state_dict"]["readout.coef"].dtype == torch.float16
    back = load_checkpoint(path)
    assert back.readout.coef.dtype == torch.float32
    assert torch.equal(back.readout.coef, model.readout.coef)  # rounded when fitted: lossless
    np.testing.assert_array_equal(back.predict_take(take, "all").angles,
                                  model.predict_take(take, "all").angles)


def test_a_sensor_lost_for_a_while_streams_as_it_predicts_offline_and_survives_a_save(tmp_path):
    """A lost IMU's read-out features are filled from the features present (one pattern
    while it is gone, a dozen as its changes come back): live steps, offline blocks and
    a checkpoint read back all give the same numbers, and the precision matrix travels
    in float16."""
    take = make_take(5, seconds=2.5)
    take.imu_ok[40:90, 1] = False
    take.imu[40:90, 1] = np.nan
    model = random_model(readout=True)
    whole = model.predict_take(take, "all", block=len(take))
    blocks = model.predict_take(take, "all", block=7)
    stream = model.stream("all")
    steps = np.stack([stream.step(frames(take, i)).angles for i in range(len(take))])
    assert np.isfinite(whole.angles).all()
    np.testing.assert_allclose(blocks.angles, whole.angles, atol=1e-4)
    np.testing.assert_allclose(steps, whole.angles, atol=1e-4)
    path = save_checkpoint(model, tmp_path / "ro.pt")
    assert read_checkpoint(path)["state_dict"]["readout.precision"].dtype == torch.float16
    np.testing.assert_array_equal(load_checkpoint(path).predict_take(take, "all").angles, whole.angles)
    # the precision is the fitted one, not the identity a checkpoint without it gets
    assert not torch.equal(model.readout.precision, torch.eye(model.readout.n_feat))


def test_the_deadband_is_chosen_on_validation_streams_as_offline_and_travels_in_the_checkpoint(tmp_path):
    """fit_deadband sets each condition's thresholds from predictions on the given
    takes; predict_take, the live stream and a checkpoint read back apply the same;
    a checkpoint written before the deadband loads with none."""
    take = make_take(5, seconds=2.5)
    model = random_model(readout=True)
    raw = model.predict_take(take, "camera")
    model.fit_deadband([make_take(6, seconds=2.5), make_take(7, seconds=2.5)], ["camera"])
    c = list(CONDITIONS).index("camera")
    assert model.deadband_angles[c, 1:].sum() > 0  # a random model's motions are worth damping
    assert model.deadband_angles[c, 0].abs().sum() == 0 and model.deadband_angles[c - 1].abs().sum() == 0
    from wearsense.fusion.deadband import apply_deadband

    band = model.predict_take(take, "camera")
    np.testing.assert_allclose(band.angles, apply_deadband(raw.angles, model.deadband_angles[c].numpy(),
                                                           angles=True), atol=1e-5)
    np.testing.assert_allclose(band.kp, apply_deadband(raw.kp, model.deadband_kp[c].numpy(), angles=False),
                               atol=1e-6)
    np.testing.assert_array_equal(band.angles[:, 0], raw.angles[:, 0])
    stream = model.stream("camera")
    steps = [stream.step(frames(take, i)) for i in range(len(take))]
    np.testing.assert_allclose(np.stack([s.angles for s in steps]), band.angles, atol=1e-4)
    np.testing.assert_allclose(np.stack([s.kp for s in steps]), band.kp, atol=1e-5)
    path = save_checkpoint(model, tmp_path / "db.pt")
    np.testing.assert_array_equal(load_checkpoint(path).predict_take(take, "camera").angles, band.angles)
    payload = read_checkpoint(path)
    for name in ("deadband_angles", "deadband_kp"):
        del payload["state_dict"][name]
    torch.save(payload, tmp_path / "old.pt")
    np.testing.assert_array_equal(load_checkpoint(tmp_path / "old.pt").predict_take(take, "camera").angles,
                                  raw.angles)
