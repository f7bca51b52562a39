"""``wearsense dashboard``: the server's page, access rules, frames and annotations (no browser here;
tests/live/test_dashboard_browser.py drives a real one)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import urllib.error
import urllib.request
from importlib import resources

import numpy as np
import pytest

from wearsense.errors import ConfigError
from wearsense.live.dashboard import DashboardSettings, run_dashboard
from wearsense.live.dashboard.server import _MinMax
from wearsense.stream import Chunk, Modality, StreamInfo

SIM = "sim://mover?emg=16&seed=1&duration_s=30"


@contextlib.asynccontextmanager
async def served(settings: DashboardSettings, uri: str = SIM, **kw):
    """A running dashboard: yields (url, box) where box['result'] is set when it has stopped."""
    stop = asyncio.Event()
    ready = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_dashboard([uri], settings=settings, stop=stop, on_ready=ready.set_result, **kw)
    )
    box = {}
    try:
        url = await asyncio.wait_for(asyncio.shield(ready), 120)
        yield url, box
    finally:
        stop.set()
        box["result"] = await asyncio.wait_for(task, 60)


async def get(url: str) -> tuple[int, bytes]:
    def fetch():
        try:
            with urllib.request.urlopen(url, timeout=20) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    return await asyncio.to_thread(fetch)


def ws_url(url: str, token: str | None = None) -> str:
    base = re.sub(r"^http", "ws", url.split("?")[0]).rstrip("/") + "/ws"
    return base + (f"?token={token}" if token else "")


def test_the_page_is_package_data_and_names_nothing_outside_its_server():
    static = resources.files("wearsense.live.dashboard").joinpath("static")
    for name in ("index.html", "app.js", "style.css"):
        text = static.joinpath(name).read_text()
        assert not re.search(r"https?://|//cdn|@import", text), name


def test_settings_refuse_what_cannot_work():
    with pytest.raises(ConfigError, match="frame_hz"):
        DashboardSettings(frame_hz=500)
    with pytest.raises(ConfigError, match="at least 8 characters"):
        DashboardSettings(token="abc")
    with pytest.raises(ConfigError, match="labels"):
        DashboardSettings(labels=("mark", " "))
    assert DashboardSettings().resolved().token is None  # this machine only: no token
    public = DashboardSettings(host="0.0.0.0").resolved()
    assert public.needs_token and len(public.token) >= 16


def test_a_public_address_refuses_every_request_without_the_token():
    async def main():
        async with served(DashboardSettings(host="0.0.0.0", port=0)) as (url, _):
            from websockets.asyncio.client import connect
            from websockets.exceptions import InvalidStatus

            token = re.search(r"token=([\w-]+)", url).group(1)
            base = url.split("?")[0].rstrip("/")
            for path in ("/", "/app.js", "/style.css", "/stats", "/ws"):
                status, body = await get(base + path)
                assert status == 403, path
                assert b"token" in body
                status, _ = await get(f"{base}{path}?token=wrong-{token}")
                assert status == 403, path
            with pytest.raises(InvalidStatus, match="403"):
                async with connect(ws_url(url)):
                    pass
            status, page = await get(url)
            assert status == 200 and f"app.js?token={token}".encode() in page  # its own files carry it
            status, _ = await get(f"{base}/app.js?token={token}")
            assert status == 200
            async with connect(ws_url(url, token)) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"

    asyncio.run(main())


def test_a_websocket_from_another_site_is_refused():
    async def main():
        async with served(DashboardSettings(port=0)) as (url, _):
            from websockets.asyncio.client import connect
            from websockets.exceptions import InvalidStatus

            with pytest.raises(InvalidStatus, match="403"):
                async with connect(ws_url(url), origin="http://evil.example"):
                    pass
            async with connect(ws_url(url), origin=url.rstrip("/")) as ws:  # the page's own origin
                assert json.loads(await ws.recv())["type"] == "hello"

    asyncio.run(main())


def test_frames_carry_decimated_emg_pose_orientation_and_health():
    async def main():
        from websockets.asyncio.client import connect

        async with served(DashboardSettings(port=0, frame_hz=30, bin_hz=250)) as (url, _):
            async with connect(ws_url(url)) as ws:
                hello = json.loads(await ws.recv())
                frames = []
                while len(frames) < 45 or frames[-1]["pose"] is None or not frames[-1]["imu"]:
                    msg = json.loads(await ws.recv())
                    if msg["type"] == "frame":
                        frames.append(msg)
        return hello, frames

    hello, frames = asyncio.run(main())
    assert hello["bin_hz"] == 250 and ["pelvis", "thorax"] in hello["bones"]
    emg = [f["emg"][0] for f in frames if f["emg"]]
    assert emg and all(len(e["min_uv"]) == 16 and len(e["labels"]) == 16 for e in emg)
    # every 8 samples at 2 kHz make one min/max bin, none lost between frames
    bins = sum(len(e["min_uv"][0]) for e in emg)
    assert abs(bins - (emg[-1]["samples"] - emg[0]["samples"] + len(emg[0]["min_uv"][0]) * 8) / 8) <= 1
    assert all(np.all(np.array(e["min_uv"]) <= np.array(e["max_uv"])) for e in emg if e["min_uv"][0])
    last = frames[-1]
    assert len(last["pose"]["keypoints"]) == 20 and len(last["imu"]) == 4
    assert {r["name"] for r in last["health"]} >= {"sim-emg", "sim-pose", "sim-imu0"}
    waits = [f["wait_ms"] for f in frames if f["wait_ms"] is not None]
    assert waits and all(w >= 0 for w in waits)  # host arrival -> send, for the page's latency
    assert all(f["sent_wall_ms"] > 1e12 for f in frames)


def test_an_annotation_lands_in_the_recordings_marker_stream(tmp_path):
    xdf = tmp_path / "s.xdf"

    async def main():
        from websockets.asyncio.client import connect

        async with served(DashboardSettings(port=0), record=xdf) as (url, box):
            async with connect(ws_url(url)) as ws:
                hello = json.loads(await ws.recv())
                assert hello["recording"] == str(xdf)
                await ws.send(json.dumps({"type": "annotate", "label": "arms up"}))
                while (msg := json.loads(await ws.recv()))["type"] != "annotated":
                    pass
                await asyncio.sleep(0.5)
        return msg, box["result"]

    ack, result = asyncio.run(main())
    assert ack["ok"] and ack["label"] == "arms up"
    assert result.stats["annotations"] == 1
    from wearsense.io.xdf import load

    events = [e for e in load(xdf).events if e["kind"] == "annotation"]
    assert [(e["message"], e["source"]) for e in events] == [("arms up", "dashboard")]
    assert events[0]["host_s"] == pytest.approx(ack["host_s"])
    # any XDF reader sees it: pyxdf reads the marker stream with its JSON row
    import pyxdf

    streams, _ = pyxdf.load_xdf(str(xdf))
    markers = next(s for s in streams if s["info"]["name"][0] == "wearsense-events")
    assert any('"annotation"' in row[0] and "arms up" in row[0] for row in markers["time_series"])


def test_an_annotation_without_a_recording_says_how_to_record():
    async def main():
        from websockets.asyncio.client import connect

        async with served(DashboardSettings(port=0)) as (url, _):
            async with connect(ws_url(url)) as ws:
                assert json.loads(await ws.recv())["recording"] is None
                await ws.send(json.dumps({"type": "annotate", "label": "x"}))
                while (msg := json.loads(await ws.recv()))["type"] != "annotated":
                    pass
                await ws.send("not json")
                while (err := json.loads(await ws.recv()))["type"] != "error":
                    pass
        return msg, err

    ack, err = asyncio.run(main())
    assert not ack["ok"] and "--record" in ack["message"]
    assert "JSON" in err["message"]


def test_emg_bins_do_not_depend_on_chunking():
    info = StreamInfo("emg", Modality.EMG, ("a", "b"), "V", 2000.0)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 50e-6, (2003, 2)).astype(np.float32)
    t = np.arange(2003) / 2000.0
    whole = _MinMax(info, 250)
    whole.push(Chunk(x, t, np.arange(2003), "device"))
    parts = _MinMax(info, 250)
    for a, b in ((0, 5), (5, 777), (777, 2003)):
        parts.push(Chunk(x[a:b], t[a:b], np.arange(a, b), "device"))
    lo1, hi1 = whole.take()
    lo2, hi2 = parts.take()
    assert lo1.shape == (250, 2)  # 2003 samples: 250 full bins of 8, 3 wait for the next chunk
    np.testing.assert_allclose(lo1, lo2, atol=1e-12)
    np.testing.assert_allclose(hi1, hi2, atol=1e-12)


def test_frames_keep_their_rate_without_bursts(monkeypatch):
    """Frames are due every 1/frame_hz s on a steady grid: a frame sent a little late does
    not push the later ones back, and one sent more than a period late does not start a
    burst to catch up."""
    from wearsense.live.dashboard import server
    from wearsense.live.monitor import LiveMonitor

    now = [100.0]
    monkeypatch.setattr(server.time, "monotonic", lambda: now[0])
    dash = server.Dashboard(LiveMonitor(effort=False), DashboardSettings(frame_hz=50))
    assert dash.frame_due()
    dash.send_frame()  # at 100.000: the next is due at 100.020
    now[0] = 100.019
    assert not dash.frame_due()
    now[0] = 100.025  # 5 ms late
    assert dash.frame_due()
    dash.send_frame()
    assert dash.next_due_s == pytest.approx(100.040)  # still on the 20 ms grid
    now[0] = 100.200  # far behind (a stalled machine): one frame, then a fresh grid
    dash.send_frame()
    assert not dash.frame_due() and dash.next_due_s == pytest.approx(100.220)
    assert dash.stats.frames == 3
