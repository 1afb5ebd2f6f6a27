"""Export a trained policy for use without `reinforce`: ONNX (onnxruntime, any language) or TorchScript.

The exported graph takes one input, `obs`: a batch of observations (N, *obs_shape) as
`reinforce.observations.encode_batch` gives them. Its dtype is the observation space's own for image
spaces (a uint8 or bool Box of 2 or 3 dims: Atari frames are uint8, MinAtar's are bool) and float32 for
everything else (Box vectors as they are; Discrete / MultiDiscrete parts one-hot, Dict / Tuple
concatenated). `reinforce export` prints it, e.g. `input obs: bool (N, 10, 10, 4)`. It returns, in order:

    action       the deterministic action (the distribution's mode): the index (N,) int64 for
                 Discrete, (N, K) int64 for MultiDiscrete, (N, n) float32 0/1 for MultiBinary, and for
                 Box the mean clipped to the bounds (or squashed into them), in the Box's shape
    logits       (N, n) float32. Discrete: normalised log-probabilities (log-softmax; exp sums to 1).
                 MultiDiscrete: each sub-action's log-probabilities, concatenated in nvec's order (N,
                 sum(nvec)); each block's exp sums to 1. MultiBinary: each bit's Bernoulli log-odds,
                 P(bit = 1) = sigmoid(logit), independent bits (the action is logit > 0)
    mean, log_std  Box instead of logits: the Gaussian's mean (before the squash, if any) and log σ (N, d)

The observation normaliser is frozen into the graph, the weights into the .onnx file (only a policy with
over 1 GiB of them keeps them in `<file>.data` beside it: ship both). Serving it needs only onnxruntime:

    session = onnxruntime.InferenceSession("policy.onnx")
    dtypes = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}
    dtype = dtypes[session.get_inputs()[0].type]  # float32, or the image space's uint8 / bool
    action = session.run(None, {"obs": obs.astype(dtype)})[0]
"""
from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from reinforce.observations import observation_spec

FORMATS = ("onnx", "torchscript")
# Weights up to this size go inside the .onnx file (one file to ship); beyond it, into `<file>.data` beside it,
# as protobuf cannot hold a message over 2 GiB (the graph itself needs some of that room).
INLINE_WEIGHTS_LIMIT = 1 << 30


class ExportError(ValueError):
    """An export that cannot be done (unknown format, missing extra, unsupported policy)."""


class FrozenObsNormalizer(nn.Module):
    """An ObsNormalizer's transform with its statistics as float32 constants: no data-dependent branch
    for the exporters to trace (the live one skips itself until it has seen data)."""

    def __init__(self, norm: nn.Module):
        super().__init__()
        seen = bool(norm.count > 0)
        scale = (norm.var + norm.eps).rsqrt() if seen else torch.ones_like(norm.var)
        self.register_buffer("mean", (norm.mean if seen else torch.zeros_like(norm.mean)).float().clone())
        self.register_buffer("scale", scale.float().clone())
        self.clip = float(norm.clip) if seen else float("inf")

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return ((obs - self.mean) * self.scale).clamp(-self.clip, self.clip)


class ActingPolicy(nn.Module):
    """A trained policy as a plain function obs (N, *obs_shape) -> (action, *parameters); no sampling."""

    def __init__(self, policy: nn.Module, action_space: Any):
        super().__init__()
        self.policy = copy.deepcopy(policy).cpu().eval().requires_grad_(False)
        if self.policy.obs_normalizer is not None:
            self.policy.obs_normalizer = FrozenObsNormalizer(self.policy.obs_normalizer)
        self.kind = policy.action_kind
        self.action_shape = tuple(action_space.shape or ())
        clip = self.kind == "box" and not getattr(policy, "squash", False)
        low = np.broadcast_to(getattr(action_space, "low", -np.inf), self.action_shape).reshape(-1) if clip else np.zeros(0)
        high = np.broadcast_to(getattr(action_space, "high", np.inf), self.action_shape).reshape(-1) if clip else np.zeros(0)
        self.clip = bool(clip and np.isfinite(low).all() and np.isfinite(high).all())
        self.register_buffer("low", torch.tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.tensor(high, dtype=torch.float32))
        self.eval()

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = obs.shape[0]
        dist = self.policy.pi(obs)
        action = dist.mode
        if self.kind == "box":
            if self.clip:
                action = torch.maximum(torch.minimum(action, self.high), self.low)
            log_std = dist.log_std.expand_as(dist.loc)
            return action.reshape(n, *self.action_shape), dist.loc, log_std
        if self.kind == "multi_discrete":
            return action, _md_logits(dist, n)
        return action, dist.logits


def _md_logits(dist: Any, n: int) -> torch.Tensor:
    """MultiDiscrete logits (N, sum(nvec)) in nvec's order, without the padding columns."""
    per = dist.per_dim.logits  # (N, K, max(nvec))
    return torch.cat([per[:, k, :m] for k, m in enumerate(dist.nvec)], dim=-1)


def output_names(kind: str) -> list[str]:
    return ["action", "mean", "log_std"] if kind == "box" else ["action", "logits"]


def example_input(observation_space: Any, batch: int = 2) -> torch.Tensor:
    """A batch of `batch` encoded observations: what the exported graph takes (its dtype and shape)."""
    spec = observation_spec(observation_space)
    return torch.zeros((batch, *spec.shape), dtype=spec.torch_dtype)


def export_policy(policy: nn.Module, observation_space: Any, action_space: Any, path: str | Path, fmt: str = "onnx") -> Path:
    """Write `policy` (with its normaliser) to `path` as `fmt` ("onnx" or "torchscript"); returns the path."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    model = ActingPolicy(policy, action_space)
    example = example_input(observation_space)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.10+ deprecates TorchScript; it still runs
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # constants such as MultiDiscrete's pad index
            traced = torch.jit.trace(model, example, check_trace=False)
        traced.save(str(path))
        return path
    try:
        import onnx  # noqa: F401  (the exporter needs it; checked here for a one-line message)
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs the export extra: pip install 'reinforce[export]' (onnx, onnxscript, onnxruntime)") from None
    batch = torch.export.Dim("batch", min=1)
    weights = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    external = weights > INLINE_WEIGHTS_LIMIT
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the exporter logs a line per torchvision op it skips
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.onnx.export(
                model, (example,), str(path), input_names=["obs"], output_names=output_names(model.kind),
                dynamic_shapes={"obs": {0: batch}}, dynamo=True, verbose=False, external_data=external,
            )
    finally:
        quiet.setLevel(level)
    data = path.with_name(path.name + ".data")
    if data.is_file() and data.stat().st_size == 0:  # the exporter may leave an empty one: nothing refers to it
        data.unlink()
    return path
