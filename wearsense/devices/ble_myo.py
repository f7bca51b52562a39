"""``ble://myo/<address>``: the Thalmic Labs Myo armband (8-channel EMG @ 200 Hz, IMU @ 50 Hz).

Implements the published Myo Bluetooth protocol (thalmiclabs/myo-bluetooth, ``myohw.h``):

- UUIDs are ``d506XXXX-a904-deb9-4748-2c7f4a124842`` with XXXX the short id:
  control service 0x0001 (firmware version 0x0201, command 0x0401), IMU service
  0x0002 (IMU data 0x0402, notify), EMG service 0x0005 (EMG data 0x0105, 0x0205,
  0x0305, 0x0405, notify).
- Commands (written to 0x0401) are ``[command, payload_size, payload...]``:
  ``set_mode`` = ``01 03 <emg_mode> <imu_mode> <classifier_mode>`` with EMG mode
  0x03 = raw (unfiltered), 0x02 = filtered, IMU mode 0x01 = data streams;
  ``set_sleep_mode`` = ``09 01 01`` keeps the armband awake while streaming
  (``09 01 00`` lets it sleep again on close).
- EMG notifications: 16 bytes = two consecutive samples x 8 channels of ``int8``
  (``myohw_emg_data_t``); the four EMG characteristics take turns, so 200 Hz arrives
  as 4 x 25 notifications per second. Values are raw ADC counts (Myo publishes no
  gain), unit ``counts``.
- IMU notifications: 20 bytes, ``int16`` little-endian (the header says big-endian,
  but every implementation and the armband itself use little-endian): orientation
  quaternion w, x, y, z / 16384, accelerometer x, y, z / 2048 (g), gyroscope x, y, z
  / 16 (deg/s), at 50 Hz.

The armband sends no timestamps or counters. Each stream's device clock is its sample
count divided by the nominal rate (``t = seq / 200`` for EMG), in the clock
``device:myo-<address>``; the sync layer fits it against ``received_s``. A skipped EMG
characteristic in the round robin counts as 2 lost samples; after a reconnection the
sequence numbers jump by the samples the outage should have held (host time x rate).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from wearsense.devices.ble_common import BleDevice
from wearsense.devices.base import Param
from wearsense.errors import MalformedNotification
from wearsense.stream import Chunk, StreamInfo

__all__ = [
    "MyoDevice",
    "myo_uuid",
    "decode_emg",
    "decode_imu",
    "decode_firmware_version",
    "set_mode_command",
    "set_sleep_mode_command",
    "EMG_CHARACTERISTICS",
    "IMU_CHARACTERISTIC",
    "COMMAND_CHARACTERISTIC",
    "FIRMWARE_CHARACTERISTIC",
    "EMG_RATE_HZ",
    "IMU_RATE_HZ",
    "ORIENTATION_SCALE",
    "ACCELEROMETER_SCALE",
    "GYROSCOPE_SCALE",
]

EMG_RATE_HZ = 200.0
IMU_RATE_HZ = 50.0
ORIENTATION_SCALE = 16384.0
ACCELEROMETER_SCALE = 2048.0  # LSB per g
GYROSCOPE_SCALE = 16.0  # LSB per deg/s
STANDARD_GRAVITY = 9.80665  # m/s^2 per g

EMG_MODES = {"raw": 0x03, "filtered": 0x02}
_SET_MODE, _SET_SLEEP_MODE = 0x01, 0x09
_IMU_SEND_DATA, _IMU_NONE, _CLASSIFIER_DISABLED = 0x01, 0x00, 0x00


def myo_uuid(short: int) -> str:
    """Full 128-bit UUID of a Myo service or characteristic from its 16-bit id."""
    return f"d506{short:04x}-a904-deb9-4748-2c7f4a124842"


CONTROL_SERVICE = myo_uuid(0x0001)
FIRMWARE_CHARACTERISTIC = myo_uuid(0x0201)
COMMAND_CHARACTERISTIC = myo_uuid(0x0401)
IMU_CHARACTERISTIC = myo_uuid(0x0402)
EMG_CHARACTERISTICS = tuple(myo_uuid(0x0105 + 0x100 * i) for i in range(4))


def set_mode_command(emg_mode: str = "raw", imu: bool = True) -> bytes:
    """``myohw_command_set_mode_t``: EMG mode, IMU data streams on/off, classifier off."""
    emg = 0x00 if emg_mode == "none" else EMG_MODES[emg_mode]
    return bytes((_SET_MODE, 3, emg, _IMU_SEND_DATA if imu else _IMU_NONE, _CLASSIFIER_DISABLED))


def set_sleep_mode_command(never_sleep: bool) -> bytes:
    """``myohw_command_set_sleep_mode_t``: 1 = never sleep (keep-awake), 0 = normal."""
    return bytes((_SET_SLEEP_MODE, 1, 1 if never_sleep else 0))


def decode_emg(payload: bytes) -> np.ndarray:
    """Two EMG samples from one notification.

    Parameters
    ----------
    payload : bytes
        16 bytes: ``int8 sample1[8]``, ``int8 sample2[8]``.

    Returns
    -------
    ndarray, float32, shape (2, 8)
        Raw counts (-128..127), samples x channels.
    """
    if len(payload) != 16:
        raise MalformedNotification(
            f"Myo EMG notification must be 16 bytes (2 samples x 8 int8), got {len(payload)}"
        )
    return np.frombuffer(payload, dtype=np.int8).reshape(2, 8).astype(np.float32)


def decode_imu(payload: bytes) -> np.ndarray:
    """One IMU sample from one notification.

    Parameters
    ----------
    payload : bytes
        20 bytes, ``int16`` little-endian: quaternion w, x, y, z; accel x, y, z;
        gyro x, y, z.

    Returns
    -------
    ndarray, float32, shape (1, 10)
        quat_w, quat_x, quat_y, quat_z (unit quaternion), acc_x, acc_y, acc_z (m/s^2),
        gyro_x, gyro_y, gyro_z (deg/s).
    """
    if len(payload) != 20:
        raise MalformedNotification(f"Myo IMU notification must be 20 bytes (10 int16), got {len(payload)}")
    raw = np.frombuffer(payload, dtype="<i2").astype(np.float64)
    out = np.empty(10)
    out[0:4] = raw[0:4] / ORIENTATION_SCALE
    out[4:7] = raw[4:7] / ACCELEROMETER_SCALE * STANDARD_GRAVITY
    out[7:10] = raw[7:10] / GYROSCOPE_SCALE
    return out.astype(np.float32)[None, :]


def decode_firmware_version(payload: bytes) -> str:
    """``myohw_fw_version_t`` (major, minor, patch, hardware revision as uint16) -> ``"1.5.1970 rev 2"``."""
    if len(payload) < 8:
        raise MalformedNotification(f"Myo firmware version must be 8 bytes, got {len(payload)}")
    major, minor, patch, hw = struct.unpack_from("<4H", payload)
    return f"{major}.{minor}.{patch} rev {hw}"


class _Counter:
    """Sequence numbers of one Myo stream (the armband has no counter of its own)."""

    def __init__(self, rate_hz: float) -> None:
        self.rate_hz = rate_hz
        self.next_seq = 0
        self.last_rx_s = float("nan")

    def take(self, n: int, received_s: float) -> np.ndarray:
        seq = np.arange(self.next_seq, self.next_seq + n, dtype=np.int64)
        self.next_seq += n
        self.last_rx_s = received_s
        return seq

    def skip_gap(self, restored_s: float) -> None:
        """Advance over an outage: the samples the device produced while the link was down."""
        if np.isfinite(self.last_rx_s):
            self.next_seq += max(0, int(round((restored_s - self.last_rx_s) * self.rate_hz)))


class MyoDevice(BleDevice):
    """Myo armband over BLE: streams ``myo-emg`` (8 ch, 200 Hz, counts) and ``myo-imu`` (10 ch, 50 Hz)."""

    kind = "myo"
    summary = "Thalmic Labs Myo armband: 8-ch EMG @ 200 Hz (int8 counts), IMU @ 50 Hz"
    params = (
        *BleDevice.common_params,
        Param(
            "emg_mode",
            str,
            "raw",
            "EMG mode: raw (unfiltered) or filtered (on-board filter)",
            choices=tuple(EMG_MODES),
        ),
        Param("imu", bool, True, "stream the IMU (orientation, accelerometer, gyroscope)"),
    )

    def __init__(self, uri, **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)
        self._emg = _Counter(EMG_RATE_HZ)
        self._imu = _Counter(IMU_RATE_HZ)
        self._expect_char = 0
        self.firmware = ""

    @classmethod
    def advertises(cls, name: str, service_uuids: tuple[str, ...]) -> bool:
        return CONTROL_SERVICE in service_uuids or name.strip().lower().startswith("myo")

    def _infos(self) -> tuple[StreamInfo, ...]:
        src = f"myo-{self.address}"
        meta = {"device": "Thalmic Labs Myo", "address": self.address, "firmware": self.firmware}
        emg = StreamInfo(
            "myo-emg",
            "EMG",
            tuple(f"emg{i + 1}" for i in range(8)),
            "counts",
            EMG_RATE_HZ,
            src,
            {
                **meta,
                "emg_mode": self.options["emg_mode"],
                "scale": "raw int8 ADC counts (no published gain)",
                "placement": "pods 1-8 around the forearm; pod 4 carries the logo LED",
            },
        )
        if not self.options["imu"]:
            return (emg,)
        imu = StreamInfo(
            "myo-imu",
            "IMU",
            ("quat_w", "quat_x", "quat_y", "quat_z", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"),
            ("1", "1", "1", "1", "m/s^2", "m/s^2", "m/s^2", "deg/s", "deg/s", "deg/s"),
            IMU_RATE_HZ,
            src,
            {**meta, "quaternion": "scalar-first, on-board fusion, sensor->world"},
        )
        return (emg, imu)

    async def _setup(self, client: Any, first: bool) -> None:
        if first:
            try:
                self.firmware = decode_firmware_version(
                    bytes(await client.read_gatt_char(FIRMWARE_CHARACTERISTIC))
                )
            except MalformedNotification:
                self.firmware = "unknown"
            self.streams = self._infos()
        for uuid in EMG_CHARACTERISTICS:
            await self._subscribe(client, uuid)
        if self.options["imu"]:
            await self._subscribe(client, IMU_CHARACTERISTIC)
        await client.write_gatt_char(COMMAND_CHARACTERISTIC, set_sleep_mode_command(True), response=True)
        await client.write_gatt_char(
            COMMAND_CHARACTERISTIC,
            set_mode_command(self.options["emg_mode"], self.options["imu"]),
            response=True,
        )

    async def _teardown(self, client: Any) -> None:
        await client.write_gatt_char(COMMAND_CHARACTERISTIC, set_mode_command("none", False), response=True)
        await client.write_gatt_char(COMMAND_CHARACTERISTIC, set_sleep_mode_command(False), response=True)

    def _link_restored(self, dropped_s: float, restored_s: float) -> None:
        self._emg.skip_gap(restored_s)
        self._imu.skip_gap(restored_s)
        self._expect_char = -1

    def _decode(
        self, characteristic: str, payload: bytes, received_s: float
    ) -> list[tuple[StreamInfo, Chunk]]:
        clock = f"device:myo-{self.address}"
        if characteristic in EMG_CHARACTERISTICS:
            data = decode_emg(payload)
            k = EMG_CHARACTERISTICS.index(characteristic)
            if self._expect_char >= 0:
                self._emg.next_seq += 2 * ((k - self._expect_char) % 4)  # skipped notifications
            self._expect_char = (k + 1) % 4
            seq = self._emg.take(2, received_s)
            return [(self.streams[0], Chunk(data, seq / EMG_RATE_HZ, seq, clock, received_s))]
        if characteristic == IMU_CHARACTERISTIC and self.options["imu"]:
            data = decode_imu(payload)
            seq = self._imu.take(1, received_s)
            return [(self.streams[1], Chunk(data, seq / IMU_RATE_HZ, seq, clock, received_s))]
        raise MalformedNotification(
            f"notification from unexpected characteristic {characteristic}", characteristic, payload
        )
