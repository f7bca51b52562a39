"""Myo armband decoders against byte vectors built from the published myohw.h layouts."""

import struct

import numpy as np
import pytest

from wearsense.devices.ble_common import MalformedNotification
from wearsense.devices.ble_myo import (
    COMMAND_CHARACTERISTIC,
    EMG_CHARACTERISTICS,
    IMU_CHARACTERISTIC,
    decode_emg,
    decode_firmware_version,
    decode_imu,
    myo_uuid,
    set_mode_command,
    set_sleep_mode_command,
)


def test_uuids_follow_the_myo_base_uuid():
    # myohw.h: "the full service UUID for GCControlService would be d5060001-a904-deb9-4748-2c7f4a124842"
    assert myo_uuid(0x0001) == "d5060001-a904-deb9-4748-2c7f4a124842"
    assert COMMAND_CHARACTERISTIC == "d5060401-a904-deb9-4748-2c7f4a124842"
    assert IMU_CHARACTERISTIC == "d5060402-a904-deb9-4748-2c7f4a124842"
    assert EMG_CHARACTERISTICS == tuple(
        f"d506{s}05-a904-deb9-4748-2c7f4a124842" for s in ("01", "02", "03", "04")
    )


def test_commands_are_the_published_structs():
    # myohw_command_set_mode_t: header {command=0x01, payload_size=3}, emg_mode, imu_mode, classifier_mode
    assert set_mode_command("raw", True) == bytes([0x01, 3, 0x03, 0x01, 0x00])
    assert set_mode_command("filtered", False) == bytes([0x01, 3, 0x02, 0x00, 0x00])
    assert set_mode_command("none", False) == bytes([0x01, 3, 0x00, 0x00, 0x00])
    # myohw_command_set_sleep_mode_t: {0x09, 1}, sleep_mode (1 = never sleep)
    assert set_sleep_mode_command(True) == bytes([0x09, 1, 1])
    assert set_sleep_mode_command(False) == bytes([0x09, 1, 0])


def test_emg_notification_is_two_samples_of_eight_int8():
    s1 = [-128, -1, 0, 1, 2, 3, 4, 127]
    s2 = [10, -10, 20, -20, 30, -30, 40, -40]
    payload = struct.pack("<16b", *s1, *s2)
    out = decode_emg(payload)
    assert out.dtype == np.float32 and out.shape == (2, 8)
    assert out.tolist() == [s1, s2]


def test_imu_notification_scales_quaternion_accel_gyro():
    # orientation w,x,y,z * 16384; accel in g * 2048; gyro in deg/s * 16 (little-endian int16)
    payload = struct.pack("<10h", 8192, -8192, 16384, 0, 2048, -4096, 1024, 160, -320, 16)
    out = decode_imu(payload)[0]
    assert out[:4] == pytest.approx([0.5, -0.5, 1.0, 0.0])
    assert out[4:7] == pytest.approx([9.80665, -2 * 9.80665, 0.5 * 9.80665], rel=1e-6)
    assert out[7:] == pytest.approx([10.0, -20.0, 1.0])


def test_firmware_version():
    assert decode_firmware_version(struct.pack("<4H", 1, 5, 1970, 2)) == "1.5.1970 rev 2"


@pytest.mark.parametrize("n", [0, 15, 17, 32])
def test_wrong_length_emg_is_malformed(n):
    with pytest.raises(MalformedNotification, match="16 bytes"):
        decode_emg(bytes(n))


@pytest.mark.parametrize("n", [0, 19, 21])
def test_wrong_length_imu_is_malformed(n):
    with pytest.raises(MalformedNotification, match="20 bytes"):
        decode_imu(bytes(n))
