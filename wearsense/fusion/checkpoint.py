"""Checkpoints: weights plus everything needed to use them, loaded without running code.

A checkpoint is one ``torch.save`` file holding only tensors and plain values::

    {"format": "wearsense-fusion", "version": 1,
     "model": ModelConfig as a dict, "spec": FeatureSpec as a dict, "dims": array sizes,
     "names": channel names (emg, imu, imu_features, pose, joints, keypoints),
     "state_dict": weights and normalisation statistics (training-set only),
     "history": training/validation curve, "train": the TrainConfig as a dict,
     "resume": optimiser state and step (only in training checkpoints)}

It is read with ``torch.load(weights_only=True)``: a file that holds pickled code is
refused, never executed (tested).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from wearsense.errors import FormatError
from wearsense.fusion.frames import FeatureSpec
from wearsense.fusion.model import FusionModel, ModelConfig

__all__ = ["save_checkpoint", "read_checkpoint", "load_checkpoint", "default_checkpoint",
           "DEFAULT_CHECKPOINT"]

FORMAT = "wearsense-fusion"
VERSION = 1
#: Buffers stored as float16 (the read-out's coefficients and its features' precision
#: matrix: most of a checkpoint's size; :class:`~wearsense.fusion.readout.LinearReadout`
#: rounds them to float16 when fitted, so the model in memory and the one read back are
#: the same).
HALF_BUFFERS = ("readout.coef", "readout.precision")
#: The small pretrained sim checkpoint shipped inside the package (see pretrained/README.md).
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "pretrained" / "sim.pt"


def save_checkpoint(model: FusionModel, path: str | os.PathLike, *, train: dict | None = None,
                    resume: dict | None = None) -> Path:
    """Write ``model`` (and optionally the training config and resume state) to ``path``
    atomically (a temporary name, then renamed)."""
    path = Path(path)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for k in state:
        if k.endswith(HALF_BUFFERS):  # exactly representable: the read-out rounds them when fitted
            state[k] = state[k].half()
    payload: dict[str, Any] = {"format": FORMAT, "version": VERSION, **model.describe(),
                               "state_dict": state,
                               "history": list(model.history)}
    if train is not None:
        payload["train"] = train
    if resume is not None:
        payload["resume"] = resume
    tmp = path.with_name(path.name + ".part")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's contents as plain values and tensors (``weights_only=True``)."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as e:  # torch's unpickler raises many kinds on a foreign or damaged file
        raise FormatError(
            f"{path}: not a readable wearsense fusion checkpoint ({str(e).splitlines()[0][:200]}); "
            "checkpoints hold only weights and plain values and are never loaded with code — "
            "use a file written by `wearsense train`"
        ) from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise FormatError(f"{path}: a torch file but not a wearsense fusion checkpoint "
                          "(no 'format': 'wearsense-fusion'); use a file written by `wearsense train`")
    if payload.get("version", 0) > VERSION:
        raise FormatError(f"{path}: checkpoint version {payload['version']} is newer than this wearsense "
                          f"reads ({VERSION}); upgrade wearsense")
    return payload


def model_from_payload(payload: dict[str, Any]) -> FusionModel:
    model = FusionModel(ModelConfig.from_dict(payload["model"]), FeatureSpec.from_dict(payload["spec"]),
                        payload["dims"], payload.get("names"))
    model.load_state_dict(payload["state_dict"])
    model.history = list(payload.get("history", []))
    model.eval()
    return model


def load_checkpoint(path: str | os.PathLike) -> FusionModel:
    """The model stored at ``path``, in eval mode, with its ``history``."""
    return model_from_payload(read_checkpoint(path))


def default_checkpoint() -> FusionModel:
    """The pretrained sim model shipped with wearsense (≤ 5 MB; see pretrained/README.md)."""
    if not DEFAULT_CHECKPOINT.is_file():
        raise FormatError(f"the shipped checkpoint {DEFAULT_CHECKPOINT} is missing; reinstall wearsense "
                          "or make it with the command in wearsense/fusion/pretrained/README.md")
    return load_checkpoint(DEFAULT_CHECKPOINT)
