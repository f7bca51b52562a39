"""``wearsense predict``: device -> host clock -> step frames -> model -> OSC and LSL, for real.

The shipped sim model predicts from the virtual mover (``realtime=0``: as fast as possible)
and from a replay of a recording of it; a real python-osc server and a pylsl inlet over
loopback receive what it publishes.
"""

from __future__ import annotations

import os
from collections import deque

import numpy as np
import pylsl
import pytest

torch = pytest.importorskip("torch")

from wearsense.cli import main  # noqa: E402
from wearsense.errors import ConfigError  # noqa: E402
from wearsense.fusion.predict import (  # noqa: E402
    PredictionLog,
    PredictSettings,
    StepRecord,
    fast_uri,
    load_model,
    plot_prediction,
    render_prediction,
    run_prediction,
)
from wearsense.live.publish import Publisher  # noqa: E402
from wearsense.sync import Timeline  # noqa: E402

pytestmark = pytest.mark.timeout(300)
TAG = f"wspred{os.getpid()}"
SIM = "sim://mover?seed=4&realtime=0&duration_s=4"


@pytest.fixture(scope="module")
def model(fresh_fusion_model):
    """A fresh FusionModel sized for the virtual mover's channels: what is tested here (the
    clock, the steps, publishing, latency bookkeeping) does not depend on its weights."""
    return fresh_fusion_model


@pytest.fixture(scope="module")
def checkpoint(model, tmp_path_factory):
    from wearsense.fusion.checkpoint import save_checkpoint

    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "fresh.pt")


@pytest.fixture(scope="module")
def sim_run(model, module_osc_receiver):
    """One prediction run on the virtual mover, published to OSC and LSL, with an inlet that
    connected at the first step."""
    receiver = module_osc_receiver
    inlet: dict[str, pylsl.StreamInlet] = {}
    received: list = []
    before: list[int] = []  # steps published before the inlet connected

    def connect(predictor, records):
        if "predicted" not in inlet:
            found = pylsl.resolve_byprop("name", f"{TAG}-predicted", timeout=10)
            inlet["predicted"] = pylsl.StreamInlet(found[0], max_buflen=60, processing_flags=0)
            inlet["predicted"].open_stream(timeout=10)
            before.append(predictor.log.n_steps)
        else:
            chunk, _ = inlet["predicted"].pull_chunk(timeout=0.0)
            received.extend(chunk)

    with Publisher(osc=receiver.target, lsl=True, name=TAG) as pub:
        log = run_prediction(
            SIM, model, settings=PredictSettings(duration_s=3.0), publisher=pub, on_step=connect
        )
        receiver.wait_for(lambda r: len(r.by_address(f"/{TAG}/step")) >= log.n_steps)
        while len(received) < log.n_steps - before[0]:
            chunk, _ = inlet["predicted"].pull_chunk(timeout=2.0)
            if not chunk:
                break
            received.extend(chunk)
        counts = pub.counts
    return log, receiver, (before[0], received), counts


def test_predicts_every_step_of_the_duration_with_latency_kept(sim_run, model):
    log = sim_run[0]
    step_hz = model.spec.step_hz
    assert log.n_steps == pytest.approx(3.0 * step_hz, abs=2)
    assert np.allclose(np.diff(log.t), 1 / step_hz, atol=1e-6)
    h, j = len(model.spec.horizons_ms), len(model.names["joints"])
    assert log.angles.shape == (log.n_steps, h, j) and np.isfinite(log.angles).all()
    assert log.kp is not None and log.kp.shape[1:] == (h, len(model.names["keypoints"]), 3)
    assert np.isfinite(log.surprise[1:]).any()
    lat = log.latency()
    assert lat["steps"] == log.n_steps and 0 < lat["step_p50_ms"] <= lat["step_p99_ms"]
    assert lat["step_p50_ms"] <= lat["added_p50_ms"]  # the added latency includes the model's step


def test_every_step_reaches_the_osc_server_as_one_bundle(sim_run, model):
    log, receiver, _, counts = sim_run
    steps = receiver.by_address(f"/{TAG}/step")
    assert sorted(s[0] for s in steps) == list(range(log.n_steps))
    assert counts.osc_packets >= log.n_steps
    for i, h in enumerate(model.spec.horizons_ms):
        got = receiver.by_address(f"/{TAG}/pred/{h}/angles")
        assert len(got) == log.n_steps and len(got[0]) == len(model.names["joints"])
    last = {args[0]: args for args in steps}
    assert last[log.n_steps - 1][1] == pytest.approx(log.t[-1] - log.t[0], abs=1e-3)
    assert receiver.by_address(f"/{TAG}/names/joints")[0] == tuple(model.names["joints"])
    assert len(receiver.by_address(f"/{TAG}/surprise")) == log.n_steps
    assert len(receiver.by_address(f"/{TAG}/actual/kp")) > 0.9 * log.n_steps


def test_the_lsl_inlet_receives_the_predictions(sim_run, model):
    log, _, (before, received), _ = sim_run
    assert before < 10 and len(received) == log.n_steps - before  # all after the inlet connected
    h, j = len(model.spec.horizons_ms), len(model.names["joints"])
    last = np.asarray(received[-1][: h * j]).reshape(h, j)
    assert np.allclose(last, log.angles[-1], atol=1e-4)


def test_a_replay_of_a_recording_predicts_what_the_live_run_predicted(model, tmp_path):
    import wearsense

    path = tmp_path / "s.xdf"
    wearsense.record([SIM], str(path))
    two = PredictSettings(duration_s=2.0)
    live = run_prediction(SIM, model, settings=two, host_clock=Timeline())  # the host monotonic clock
    replay = run_prediction(f"replay://{path}?speed=0", model, settings=two, host_clock=Timeline())
    assert replay.n_steps == live.n_steps > 100
    assert np.allclose(replay.t, live.t, rtol=0, atol=1e-9)
    assert np.allclose(replay.angles, live.angles, atol=1e-4)


def test_a_missing_checkpoint_names_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="does not exist.*wearsense train.*shipped sim model"):
        load_model(tmp_path / "nope.pt")


def test_a_device_without_the_models_channels_is_refused_with_the_fix(model):
    with pytest.raises(
        ConfigError, match=r"do not match sim://mover\?emg=3.*EMG channels.*wearsense finetune"
    ):
        run_prediction("sim://mover?emg=3&realtime=0&duration_s=1", model)


def test_an_unknown_condition_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="camera, imu, emg, inside_out, camera_imu, all"):
        PredictSettings(condition="eyes")


def test_fast_uri_adds_the_as_fast_as_possible_parameter_unless_set():
    assert fast_uri("sim://mover") == "sim://mover?realtime=0"
    assert fast_uri("sim://mover?seed=2") == "sim://mover?seed=2&realtime=0"
    assert fast_uri("sim://mover?realtime=1") == "sim://mover?realtime=1"
    assert fast_uri("replay://s.xdf") == "replay://s.xdf?speed=0"
    assert fast_uri("lsl://type=EMG") == "lsl://type=EMG"


def synthetic_log(shift_m: float) -> PredictionLog:
    """Steps at 10 Hz over a keypoint moving at 1 m/s; each prediction for t+h is the truth
    at t+h plus ``shift_m``; each step sees the frame captured 0.1 s before it."""
    log = PredictionLog(horizons_ms=(0, 100, 200), joints=["j"], keypoints=["a"], condition="all", keep=100)
    for k in range(50):
        t = k / 10
        kp = np.array([[[t + h / 1000 + shift_m, 0, 0]] for h in (0, 100, 200)])
        log.append(StepRecord(t, np.zeros((3, 1)), kp, 0.0, np.array([[t - 0.1, 0, 0]]), 0.1, [], 1e-3, 2e-3))
    return log


def test_keypoint_error_compares_predictions_with_the_frames_captured_at_their_target_time():
    assert all(e == pytest.approx(0, abs=0.01) for e in synthetic_log(0.0).errors_mm().values())
    assert all(e == pytest.approx(30.0, abs=0.01) for e in synthetic_log(0.03).errors_mm().values())
    log = synthetic_log(0.0)
    # holding the newest frame (captured 0.1 s before t, moving at 1 m/s): 100 mm behind at +0 ms
    hold = log.errors_mm(baseline=True)
    assert [round(hold[h], 3) for h in (0, 100, 200)] == [100.0, 200.0, 300.0]
    assert log.latency()["added_p99_ms"] == pytest.approx(2.0)
    small = PredictionLog((0,), [], [], "all", keep=3, steps=deque())
    for rec in list(log.steps)[:5]:
        small.append(rec)
    assert len(small) == 3 and small.n_steps == 5  # keeps the newest steps, counts every latency


def test_view_and_figure_show_predicted_against_actual(sim_run, model):
    log = sim_run[0]

    class Running:  # what the view reads of a running predictor
        pass

    running = Running()
    running.log, running.model = log, model
    text = "\n".join(render_prediction(running, "wearsense predict sim://mover"))
    assert "predicted joint angle" in text and "keypoint error" in text and "added p50" in text
    assert "holding the newest frame" in text
    fig = plot_prediction(log, horizon_ms=100)
    assert len(fig.axes) == 3 and "keypoint error at +100 ms" in fig.axes[0].get_title()


def test_cli_predicts_publishes_and_writes_the_figure(osc_receiver, checkpoint, tmp_path, capsys):
    fig = tmp_path / "p.png"
    code = main(
        [
            "predict",
            "sim://mover?seed=1&duration_s=3",
            "--fast",
            "--checkpoint",
            str(checkpoint),
            "--no-lsl",
            "--quiet",
            "--osc",
            osc_receiver.target,
            "--duration",
            "2",
            "-o",
            str(fig),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert fig.stat().st_size > 10_000
    assert "step latency   p50" in out and "added latency  p50" in out and "of the 16.7 ms step" in out
    assert osc_receiver.wait_for(lambda r: len(r.by_address("/wearsense/step")) >= 100)


def test_a_stream_that_goes_silent_stops_holding_the_steps_back(model):
    """The camera drops out after 1 s: predictions go on for the whole take (after at most
    ``max_wait_s``), seeing no new pose frame."""
    from wearsense.devices.blocking import BlockingDevice
    from wearsense.fusion.predict import LivePredictor

    settings = PredictSettings(max_wait_s=0.25)
    with BlockingDevice(SIM) as dev:
        predictor = LivePredictor(model, dev.streams, settings=settings, host_clock=Timeline())
        for info, chunk in dev:
            if info.name == "sim-pose" and chunk.received_s > 1.0:
                continue
            predictor.feed(info, chunk)
    log = predictor.log
    assert log.t[-1] > 3.9  # steps up to the end of the 4 s take
    assert np.allclose(np.diff(log.t), 1 / model.spec.step_hz, atol=1e-6)  # none skipped
    ages = np.array([s.actual_age_s for s in log.steps])
    late = log.t > 2.0
    assert (ages[late] > 0.9).all()  # the newest frame is the one from before the drop-out


@pytest.mark.slow
def test_ctrl_c_stops_the_live_run_and_still_writes_the_figure(checkpoint, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root, "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wearsense", "predict", "sim://mover?seed=2", "--no-lsl", "--osc", "off",
         "--quiet", "-o", "p.png", "--checkpoint", str(checkpoint)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    line = ""
    while "publishing" not in line and time.monotonic() < deadline:  # streaming in real time now
        line = proc.stderr.readline()
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "step latency" in out and "from arrival" in out
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_the_shipped_model_beats_holding_the_camera_frame_on_a_mover_it_never_saw():
    """The default command's device and model, end to end: 10 s of a mover outside the
    training seeds, keypoints 100 ms ahead closer to what the camera then saw than the
    newest camera frame held still (zero velocity)."""
    from wearsense.cli.predict import DEFAULT_URI

    shipped = load_model(None)
    log = run_prediction(fast_uri(DEFAULT_URI), shipped, settings=PredictSettings(duration_s=10.0))
    model, hold = log.errors_mm()[100], log.errors_mm(baseline=True)[100]
    assert model < hold, (model, hold)
