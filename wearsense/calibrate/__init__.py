"""Calibration: declarative protocols (``calibration/*.toml``), fits, profiles, the guided runner.

Layering: above :mod:`wearsense.dsp`, :mod:`wearsense.io` and :mod:`wearsense.sync`,
below effort/fusion/cli. Every fit is a pure function (fit -> parameters -> apply,
each testable alone); the runner reports through callbacks and never prints.

- :mod:`~wearsense.calibrate.protocol`: load and validate protocol files.
- :mod:`~wearsense.calibrate.imu`: gyro bias and noise, accelerometer six-face fit.
- :mod:`~wearsense.calibrate.mag`: magnetometer ellipsoid (hard/soft iron) fit.
- :mod:`~wearsense.calibrate.emg`: rest noise floor, MVC from the causal envelope.
- :mod:`~wearsense.calibrate.segment`: sensor-to-segment rotation.
- :mod:`~wearsense.calibrate.profile`: per-device profiles (TOML), applying them.
- :mod:`~wearsense.calibrate.runner`: the guided run of a protocol.

See docs/calibration.md.
"""
