"""Live views of streaming devices.

- :mod:`wearsense.live.monitor`: :class:`~wearsense.live.monitor.LiveMonitor`, what the
  live views show (rates, loss, EMG levels and quality, IMU orientation, pose, effort,
  pre-activation events, a model's prediction), computed once;
- :mod:`wearsense.live.terminal`: the terminal view (``wearsense live``, ``wearsense demo``);
- :mod:`wearsense.live.dashboard`: the web page served over WebSocket (``wearsense dashboard``);
- :mod:`wearsense.live.publish`: the one OSC/LSL address space they publish through.

See docs/live.md.
"""
