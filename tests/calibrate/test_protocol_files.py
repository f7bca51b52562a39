"""The shipped calibration protocols load, and a bad file gives one error naming file, step and field."""

from __future__ import annotations

import tomllib

import pytest

from wearsense.calibrate.protocol import (
    ACTIONS,
    find_protocol,
    list_protocols,
    load_protocol,
    parse_protocol,
    protocol_dir,
)
from wearsense.errors import ProtocolError

SHIPPED = {"imu_still", "imu_six_face", "mag_figure8", "emg_rest_mvc", "npose", "sync_gesture"}


def test_every_shipped_protocol_is_valid():
    names = {p.stem for p in list_protocols()}
    assert SHIPPED <= names
    for path in list_protocols():
        proto = load_protocol(path)
        assert proto.name == path.stem
        assert proto.steps and all(s.instruction and s.duration_s > 0 for s in proto.steps)
        for step in proto.steps:
            for check in step.checks:
                assert check.metric in ACTIONS[step.action][0]


def test_find_protocol_by_name_or_path_and_unknown_lists_the_shipped():
    assert find_protocol("imu_still").solver == "imu_still"
    assert find_protocol(protocol_dir() / "npose.toml").name == "npose"
    with pytest.raises(ProtocolError, match="shipped protocols: .*imu_still"):
        find_protocol("no_such_protocol")


def test_emg_protocol_has_an_mvc_step_per_muscle_group_with_a_test_position():
    proto = find_protocol("emg_rest_mvc")
    mvc = [s for s in proto.steps if s.action == "mvc"]
    assert len(mvc) >= 8
    assert all(s.options["position"] and s.options["muscles"] for s in mvc)


def _base() -> dict:
    return tomllib.loads((protocol_dir() / "imu_still.toml").read_text())


def _error(data: dict, tmp_path, name: str = "imu_still") -> ProtocolError:

    path = tmp_path / f"{name}.toml"
    path.write_text(_dump(data))
    with pytest.raises(ProtocolError) as e:
        load_protocol(path)
    assert str(path) in str(e.value)
    return e.value


def _dump(data: dict) -> str:
    from wearsense.calibrate.profile import dumps_toml

    return dumps_toml(data)


def test_negative_duration_names_file_step_and_field(tmp_path):
    data = _base()
    data["step"][0]["duration_s"] = -3.0
    err = _error(data, tmp_path)
    assert (err.step, err.field) == ("still", "duration_s")
    assert "step 'still'" in str(err) and "'duration_s'" in str(err) and "-3.0" in str(err)


def test_unknown_metric_in_a_check_lists_the_valid_ones(tmp_path):
    data = _base()
    data["step"][0]["checks"][0]["metric"] = "gyro_sd"
    err = _error(data, tmp_path)
    assert err.field == "checks[0].metric"
    assert "gyro_std_dps" in str(err)


def test_check_without_limit_or_message_is_rejected(tmp_path):
    data = _base()
    del data["step"][0]["checks"][0]["max"]
    assert _error(data, tmp_path).field == "checks[0].max"
    data = _base()
    del data["step"][0]["checks"][1]["message"]
    assert _error(data, tmp_path).field == "checks[1].message"


def test_missing_protocol_field_and_wrong_types(tmp_path):
    data = _base()
    del data["protocol"]["solver"]
    err = _error(data, tmp_path)
    assert (err.step, err.field) == ("", "solver") and "[protocol]" in str(err)
    data = _base()
    data["protocol"]["version"] = "one"
    assert "must be an integer, got 'one'" in str(_error(data, tmp_path))
    data = _base()
    data["step"][0]["streams"] = ["EMG"]
    assert _error(data, tmp_path).field == "streams"


def test_action_options_are_validated(tmp_path):
    proto = tomllib.loads((protocol_dir() / "imu_six_face.toml").read_text())
    proto["step"][2]["options"]["face"] = "up"
    err = _error(proto, tmp_path, "imu_six_face")
    assert (err.step, err.field) == ("face_px", "options.face")
    proto = tomllib.loads((protocol_dir() / "imu_six_face.toml").read_text())
    proto["step"][0]["options"]["tilt"] = 3
    assert _error(proto, tmp_path, "imu_six_face").field == "options.tilt"


def test_duplicate_step_ids_and_name_mismatch(tmp_path):
    proto = tomllib.loads((protocol_dir() / "imu_six_face.toml").read_text())
    proto["step"][1]["id"] = "face_pz"
    assert _error(proto, tmp_path, "imu_six_face").field == "id"
    assert _error(_base(), tmp_path, "renamed").field == "name"


def test_solver_needs_its_actions():
    data = _base()
    data["step"][0]["action"] = "rest"
    data["step"][0]["checks"] = []
    with pytest.raises(
        ProtocolError, match="not used by solver 'imu_still'|needs a step with action 'still'"
    ):
        parse_protocol(data, "imu_still.toml")


def test_invalid_toml_is_a_protocol_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[protocol\nname=")
    with pytest.raises(ProtocolError, match="not valid TOML"):
        load_protocol(path)


def test_check_failure_message_formats_value_and_limit():
    step = find_protocol("imu_still").step("still")
    check = step.checks[0]
    assert check.failure(0.1) is None
    msg = check.failure(4.1, where="sim-imu0")
    assert "4.10 dps > 0.5 dps" in msg and msg.startswith("sim-imu0 moved")


def test_mvc_steps_are_repeated_three_times_with_rest_and_an_agreement_check():
    proto = find_protocol("emg_rest_mvc")
    for s in (s for s in proto.steps if s.action == "mvc"):
        assert (s.repetitions, s.rest_s) == (3, 30.0)
        spread = [c for c in s.checks if c.metric == "repetition_spread_pct"]
        assert spread and spread[0].max == 10.0 and "every repetition full effort" in spread[0].message
    assert proto.step("rest").repetitions == 1 and proto.step("rest").rest_s == 0.0
    # recording time counts every repetition, not the rests
    assert proto.duration_s == 5.0 + 11 * 3 * 8.0


def test_mvc_repetitions_are_validated(tmp_path):
    for bad, why in ((0, "within 1..10"), (11, "within 1..10"), (2.5, "must be an integer")):
        proto = tomllib.loads((protocol_dir() / "emg_rest_mvc.toml").read_text())
        proto["step"][1]["options"]["repetitions"] = bad
        err = _error(proto, tmp_path, "emg_rest_mvc")
        assert (err.step, err.field) == ("mvc_elbow_flexors", "options.repetitions") and why in str(err)
    proto = tomllib.loads((protocol_dir() / "emg_rest_mvc.toml").read_text())
    proto["step"][1]["options"]["rest_s"] = -5.0
    assert _error(proto, tmp_path, "emg_rest_mvc").field == "options.rest_s"
