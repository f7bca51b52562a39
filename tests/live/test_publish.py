"""The live address space for real: a python-osc server and pylsl inlets over loopback receive
what Publisher sends (docs/osc.md)."""

import json
import os

import numpy as np
import pylsl
import pytest
from pythonosc.osc_packet import OscPacket

from wearsense.errors import ConfigError
from wearsense.live.publish import EFFORT_FACTORS, Publisher, parse_osc_target

pytestmark = pytest.mark.timeout(60)
TAG = f"wspub{os.getpid()}"

JOINTS = ["hip_flex_r", "knee_flex_r", "elbow_flex_r"]
KEYPOINTS = ["wrist_r", "ankle_r"]
HORIZONS = [0, 100, 400]


def prediction():
    angles = np.arange(9, dtype=np.float32).reshape(3, 3) * 10.0  # (H, J) deg
    kp = np.arange(18, dtype=np.float32).reshape(3, 2, 3) / 100.0  # (H, Q, 3) m
    return angles, kp


def test_one_instant_is_one_osc_bundle_with_step_prediction_actual_and_surprise(osc_receiver):
    angles, kp = prediction()
    with Publisher(osc=osc_receiver.target, lsl=False) as pub:
        pub.describe(joints=JOINTS, keypoints=KEYPOINTS, horizons_ms=HORIZONS, step_hz=60)
        with pub.instant(t=100.0, step=0):
            pass
        with pub.instant(t=100.5, step=30):
            pub.predicted(angles, kp)
            pub.actual(kp=kp[0], age_s=0.04)
            pub.surprise(0.25)
        assert osc_receiver.wait_for(lambda r: len(r.by_address("/wearsense/surprise")) == 1)
    step = osc_receiver.by_address("/wearsense/step")
    assert sorted(step) == [(0, 0.0), (30, 0.5)]  # step number, s since the first instant
    for i, h in enumerate(HORIZONS):
        assert np.allclose(osc_receiver.by_address(f"/wearsense/pred/{h}/angles")[0], angles[i])
        assert np.allclose(osc_receiver.by_address(f"/wearsense/pred/{h}/kp")[0], kp[i].ravel())
    assert np.allclose(osc_receiver.by_address("/wearsense/actual/kp")[0], kp[0].ravel())
    assert osc_receiver.by_address("/wearsense/actual/age")[0] == pytest.approx((0.04,))
    assert osc_receiver.by_address("/wearsense/surprise") == [pytest.approx((0.25,))]
    assert osc_receiver.by_address("/wearsense/names/joints") == [tuple(JOINTS)]
    assert osc_receiver.by_address("/wearsense/names/horizons_ms") == [tuple(HORIZONS)]
    # the second instant arrived as one bundle: /step first, then everything of that instant
    bundles = [OscPacket(p) for p in osc_receiver.packets if p.startswith(b"#bundle")]
    full = [b for b in bundles if len(b.messages) > 2 and b.messages[0].message.address == "/wearsense/step"]
    assert len(full) == 1
    addresses = [m.message.address for m in full[0].messages]
    assert addresses[0] == "/wearsense/step" and "/wearsense/surprise" in addresses
    assert len(addresses) == 1 + 2 * len(HORIZONS) + 2 + 1


def test_effort_and_events_reach_osc_with_their_types(osc_receiver):
    class Reading:  # what the effort module reports: value, pole, confidence
        def __init__(self, value, pole, confidence):
            self.value, self.pole, self.confidence = value, pole, confidence

    with Publisher(osc=osc_receiver.target, lsl=False, name="studio") as pub:
        pub.effort({"weight": Reading(0.8, "strong", 0.9), "space": (None, "unavailable", 0.0)})
        pub.preactivation("vastus_lateralis_r", "shank_r", 62.0)
        pub.preactivation("erector_spinae_r", "trunk / pelvis", float("nan"), kind="anticipatory")
        pub.onset("biceps_brachii_r")
        assert osc_receiver.wait_for(lambda r: len(r.messages) == 5)
    assert osc_receiver.by_address("/studio/effort/weight") == [pytest.approx((0.8, "strong", 0.9))]
    (space,) = osc_receiver.by_address("/studio/effort/space")
    assert np.isnan(space[0]) and space[1:] == ("unavailable", 0.0)
    pre = sorted(osc_receiver.by_address("/studio/preactivation"))
    assert pre[1] == ("vastus_lateralis_r", "shank_r", 62.0, "led")
    assert (
        pre[0][:2] == ("erector_spinae_r", "trunk / pelvis")
        and np.isnan(pre[0][2])
        and pre[0][3] == "anticipatory"
    )
    assert osc_receiver.by_address("/studio/onset") == [("biceps_brachii_r",)]


def resolve_inlet(name: str) -> pylsl.StreamInlet:
    found = pylsl.resolve_byprop("name", name, timeout=10)
    assert found, f"no LSL stream {name}"
    inlet = pylsl.StreamInlet(found[0], max_buflen=10, processing_flags=0)
    inlet.open_stream(timeout=10)
    return inlet


def pull(inlet: pylsl.StreamInlet, n: int) -> tuple[list, list]:
    samples, stamps = [], []
    while len(samples) < n:
        s, t = inlet.pull_sample(timeout=10)
        assert s is not None, f"only {len(samples)} of {n} samples arrived"
        samples.append(s)
        stamps.append(t)
    return samples, stamps


def channel_labels(inlet: pylsl.StreamInlet) -> list[tuple[str, str]]:
    ch = inlet.info(timeout=10).desc().child("channels").child("channel")
    out = []
    while not ch.empty():
        out.append((ch.child_value("label"), ch.child_value("unit")))
        ch = ch.next_sibling()
    return out


def test_lsl_outlets_carry_labelled_pose_surprise_effort_and_a_marker_stream():
    angles, kp = prediction()
    name = f"{TAG}-a"
    with Publisher(osc=None, lsl=True, name=name) as pub:
        pub.describe(joints=JOINTS, keypoints=KEYPOINTS, horizons_ms=HORIZONS, step_hz=60)
        made = pub.open_outlets(effort=True)  # before the first sample: consumers connect first
        kinds = ("predicted", "surprise", "effort", "events", "actual")
        assert sorted(made) == sorted(f"{name}-{k}" for k in kinds)
        inlets = {k: resolve_inlet(f"{name}-{k}") for k in kinds}
        assert set(pub.lsl_streams) == {f"{name}-{k}" for k in inlets}
        now = pylsl.local_clock()
        for i in range(3):
            pub.predicted(angles + i, kp, t=now + i / 60)
            pub.surprise(0.1 * i, t=now + i / 60)
            pub.actual(kp=kp[i], age_s=0.05, t=now + i / 60)
        pub.effort({"weight": (0.5, "light", 0.7), "time": (0.9, "sudden", 1.0)}, t=now)
        pub.preactivation("vastus_lateralis_r", "shank_r", 62.0, t=now)
        pub.preactivation("erector_spinae_r", "trunk", float("nan"), kind="anticipatory", t=now)

        labels = channel_labels(inlets["predicted"])
        assert labels[:3] == [
            ("hip_flex_r@0ms", "deg"),
            ("knee_flex_r@0ms", "deg"),
            ("elbow_flex_r@0ms", "deg"),
        ]
        assert labels[9] == ("wrist_r_x@0ms", "m") and len(labels) == 9 + 18
        got, stamps = pull(inlets["predicted"], 3)
        assert np.allclose(got[2][:9], (angles + 2).ravel()) and np.allclose(got[2][9:], kp.ravel())
        assert np.allclose(np.diff(stamps), 1 / 60, atol=1e-6)
        assert inlets["predicted"].info().nominal_srate() == 60

        actual, _ = pull(inlets["actual"], 3)
        assert np.allclose(actual[1], [*kp[1].ravel(), 0.05])
        assert channel_labels(inlets["actual"])[-1] == ("age", "s")

        surprise, _ = pull(inlets["surprise"], 3)
        assert np.allclose([s[0] for s in surprise], [0.0, 0.1, 0.2], atol=1e-6)

        (effort,), _ = pull(inlets["effort"], 1)
        labels = [lab for lab, _ in channel_labels(inlets["effort"])]
        assert labels[:3] == ["weight", "weight_pole", "weight_confidence"] and len(labels) == 3 * len(
            EFFORT_FACTORS
        )
        row = dict(zip(labels, effort))
        assert row["weight"] == pytest.approx(0.5) and row["weight_pole"] == -1 and row["time_pole"] == 1
        assert np.isnan(row["space"]) and np.isnan(row["flow_confidence"])

        markers, _ = pull(inlets["events"], 2)
        led, anticipatory = (json.loads(m[0]) for m in markers)
        assert led == {
            "event": "preactivation",
            "muscle": "vastus_lateralis_r",
            "segment": "shank_r",
            "lead_ms": 62.0,
            "kind": "led",
            "text": "vastus_lateralis_r engaged 62 ms before shank_r moved",
        }
        assert anticipatory["lead_ms"] is None and anticipatory["kind"] == "anticipatory"
        assert anticipatory["text"] == "erector_spinae_r engaged with no motion of its joint (trunk)"
        assert inlets["events"].info().channel_format() == pylsl.cf_string


def test_osc_target_must_be_host_and_port():
    assert parse_osc_target("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_osc_target("[::1]:57120") == ("::1", 57120)
    for bad in ("9000", "localhost", "host:abc", "host:70000", ":9000"):
        with pytest.raises(ConfigError, match="host:port|port"):
            parse_osc_target(bad)


def test_bad_names_layouts_and_factors_are_errors_that_say_what_to_do(osc_receiver):
    with pytest.raises(ConfigError, match="OSC address"):
        Publisher(osc=None, lsl=False, name="my studio")
    with Publisher(osc=osc_receiver.target, lsl=False) as pub:
        with pytest.raises(ConfigError, match="factors are weight, time, space, flow"):
            pub.effort({"speed": (1.0, "fast", 1.0)})
        with pytest.raises(ConfigError, match=r"\(horizons, joints\)"):
            pub.predicted(angles=np.zeros(3))
        with pytest.raises(ConfigError, match="do not nest"):
            with pub.instant(), pub.instant():
                pass
    with Publisher(osc=None, lsl=True, name=f"{TAG}-b") as pub:
        pub.surprise(0.0)
        pub.predicted(angles=np.zeros((2, 3)))
        with pytest.raises(ConfigError, match="call describe"):
            pub.predicted(angles=np.zeros((2, 4)))


def test_nothing_is_sent_after_close(osc_receiver):
    pub = Publisher(osc=osc_receiver.target, lsl=False)
    pub.surprise(1.0)
    assert osc_receiver.wait_for(lambda r: len(r.messages) == 1)
    pub.close()
    pub.surprise(2.0)  # no error, nothing sent
    assert pub.counts.osc_messages == 1


def test_osc_encoding_is_byte_for_byte_what_python_osc_builds():
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    from wearsense.live.publish import osc_bundle, osc_floats, osc_message

    def built(address, args):
        b = OscMessageBuilder(address)
        for v, kind in args:
            b.add_arg(v, kind)
        return b.build()

    args = [("vastus_lateralis_r", "s"), ("", "s"), (62.5, "f"), (-3, "i"), ("épaule", "s")]
    assert osc_message("/wearsense/preactivation", args) == built("/wearsense/preactivation", args).dgram
    values = np.array([[0.1, -2.5], [1e6, 3.0]], dtype=np.float32)
    ref = built("/w/pred/100/kp", [(float(v), "f") for v in values.ravel()])
    assert osc_floats("/w/pred/100/kp", values) == ref.dgram
    bb = OscBundleBuilder(IMMEDIATELY)
    bb.add_content(ref)
    bb.add_content(built("/w/surprise", [(0.5, "f")]))
    assert osc_bundle([ref.dgram, osc_message("/w/surprise", [(0.5, "f")])]) == bb.build().dgram
