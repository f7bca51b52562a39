"""``wearsense predict <uri>``: live pose prediction from any device, published over OSC and LSL.

    wearsense predict                                  # the virtual mover, the shipped model
    wearsense predict sim://mover?seed=3 --osc 192.168.1.20:9000 --duration 60
    wearsense predict replay://session.xdf --fast --checkpoint my.pt --condition inside_out

Shows the predicted joint angles, the error of past predictions against the camera frames
that arrived since, the surprise and the latency in the terminal; publishes predicted and
actual pose, surprise and EMG onsets (docs/osc.md); at the end writes a figure of
predicted against actual and prints the latency (p50/p99 of the model's step and of the
added latency from chunk arrival to a published prediction). Ctrl-C stops and still
writes the figure.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from pathlib import Path

NAME = "predict"
HELP = "predict pose live from a device (URI) with a fusion model; publish over OSC and LSL"
#: the virtual mover as the shipped model was trained on it (people drawn from the seed,
#: the full movement vocabulary in phrases), a person it never saw (it trained on seeds 0-9)
DEFAULT_URI = "sim://mover?person=drawn&vocabulary=full&seed=100"


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 s, got {text}")
    return value


def add_arguments(parser) -> None:
    parser.add_argument(
        "uri",
        metavar="URI",
        nargs="?",
        default="sim://mover",
        help=f"device URI (default {DEFAULT_URI}); e.g. replay://session.xdf, lsl://type=EMG",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="model checkpoint from 'wearsense train' (default: the shipped sim model)",
    )
    parser.add_argument(
        "--condition",
        default="all",
        help="inputs the model sees: camera, imu, emg, inside_out, camera_imu, all (default all)",
    )
    parser.add_argument(
        "--osc",
        default="127.0.0.1:9000",
        metavar="HOST:PORT",
        help="where OSC goes (default 127.0.0.1:9000); 'off' for none",
    )
    parser.add_argument(
        "--lsl",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="publish LSL outlets (default on)",
    )
    parser.add_argument("--name", default="wearsense", help="OSC address prefix and LSL stream-name prefix")
    parser.add_argument(
        "--duration",
        type=_positive,
        default=None,
        help="seconds of data to predict (default: until Ctrl-C or the device ends)",
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="as fast as possible: realtime=0 for sim://, speed=0 for replay:// (tests, benchmarks)",
    )
    parser.add_argument(
        "-o",
        "--figure",
        type=Path,
        default=Path("wearsense-predict.png"),
        help="figure written at the end (PNG, default wearsense-predict.png)",
    )
    parser.add_argument(
        "--horizon", type=int, default=100, help="horizon shown in the figure, ms (default 100)"
    )
    parser.add_argument(
        "--pose-latency-ms",
        type=float,
        default=None,
        help="camera latency, capture to timestamp, ms (default: the calibration profile or stream metadata)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for the model (default 1: lowest latency beside the device loop)",
    )
    parser.add_argument("--quiet", action="store_true", help="no live view")


def run(args) -> int:
    from wearsense.devices.registry import open_device
    from wearsense.errors import ConfigError
    from wearsense.fusion.predict import (
        PredictionView,
        PredictSettings,
        fast_uri,
        load_model,
        plot_prediction,
        run_prediction,
    )
    from wearsense.live.publish import Publisher, parse_osc_target

    osc = None if args.osc.lower() in ("off", "none", "") else args.osc
    if osc is not None:
        parse_osc_target(osc)  # a bad target fails before the model loads
    if args.figure.suffix.lower() != ".png":
        raise ConfigError(f"--figure {args.figure}: write a .png file", parameter="figure")
    if not args.figure.parent.exists():
        raise FileNotFoundError(2, "No such file or directory", str(args.figure.parent))
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}", parameter="threads")
    settings = PredictSettings(condition=args.condition, duration_s=args.duration)
    uri = fast_uri(args.uri) if args.fast else args.uri
    open_device(uri)  # a bad URI or parameter fails here, before the model loads (nothing opens yet)

    model = load_model(args.checkpoint, threads=args.threads)
    if args.horizon not in model.spec.horizons_ms:
        raise ConfigError(
            f"--horizon {args.horizon}: the model predicts {list(model.spec.horizons_ms)} ms; choose one",
            parameter="horizon",
        )
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    view = None if args.quiet else PredictionView(f"wearsense predict {uri}", out=sys.stderr)
    where = [f"OSC {osc} /{args.name}/..." if osc else "", f"LSL {args.name}-*" if args.lsl else ""]
    started = []

    def on_step(predictor, records) -> None:
        if not started:  # the device is open and delivering: say where the predictions go
            started.append(True)
            print(
                "publishing: " + (", ".join(w for w in where if w) or "nothing"), file=sys.stderr, flush=True
            )
        if view is not None:
            view.draw(predictor, records)

    try:
        with Publisher(osc=osc, lsl=args.lsl, name=args.name) as pub:
            log = run_prediction(
                uri,
                model,
                settings=settings,
                publisher=pub,
                stop=stop,
                pose_latency_s=None if args.pose_latency_ms is None else args.pose_latency_ms / 1000.0,
                on_step=on_step,
            )
            lsl_names = pub.lsl_streams
    finally:
        signal.signal(signal.SIGINT, previous)
    if not log.steps:
        print(f"no prediction: {uri} delivered no data the model could use", file=sys.stderr)
        return 1
    plot_prediction(log, horizon_ms=args.horizon).savefig(args.figure, dpi=110)
    lat = log.latency()
    errors = log.errors_mm()
    span = log.steps[-1].t - log.steps[0].t
    print(
        f"{log.n_steps} steps over {span:.1f} s of data in {log.elapsed_s:.1f} s "
        f"(condition {log.condition}, {len(log.horizons_ms)} horizons)"
    )
    print(f"step latency   p50 {lat['step_p50_ms']:.2f} ms   p99 {lat['step_p99_ms']:.2f} ms")
    period = 1000.0 / model.spec.step_hz
    print(
        f"added latency  p50 {lat['added_p50_ms']:.2f} ms   p99 {lat['added_p99_ms']:.2f} ms "
        f"({lat['added_p99_ms'] / period:.2f} of the {period:.1f} ms step; chunk handed in -> published)"
    )
    if math.isfinite(lat["arrival_p99_ms"]):
        print(
            f"from arrival   p50 {lat['arrival_p50_ms']:.2f} ms   p99 {lat['arrival_p99_ms']:.2f} ms "
            "(the chunk's host arrival -> published)"
        )
    hold = log.errors_mm(baseline=True)
    shown = [h for h in (0, 100, 200, 400) if h in errors]
    print("keypoint error vs camera (mm): " + "  ".join(f"+{h} ms {errors[h]:.0f}" for h in shown))
    print("  holding the newest frame:    " + "  ".join(f"+{h} ms {hold[h]:.0f}" for h in shown))
    if lsl_names:
        print("LSL: " + ", ".join(lsl_names))
    print(f"figure: {args.figure}")
    return 0
