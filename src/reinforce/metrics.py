"""The fixed, namespaced metric names every run logs, and turning an update's tensors into numbers once."""
from __future__ import annotations

from collections.abc import Mapping

import torch

Metrics = dict[str, float]

# Logged every epoch by every run, in this column order (options add train/value_loss etc. after these).
METRIC_NAMES = (
    "epoch",
    "time/env_steps",
    "time/wall_s",
    "time/steps_per_s",
    "rollout/ep_return_mean",
    "rollout/ep_len_mean",
    "rollout/episodes",
    "rollout/article_avg_reward",
    "train/loss",
    "train/entropy",
    "train/lr",
    "train/grad_norm",
)
COUNTS = ("epoch", "time/env_steps", "rollout/episodes")  # reported as ints


def rollout_metrics(sums: torch.Tensor) -> dict[str, torch.Tensor]:
    """The rollout's episode statistics from the job's float64 sums (5,): the finished episodes' return sum, length
    sum and count, the reward sum and the number of episode ends (episode means weighted by episode counts)."""
    ret_sum, len_sum, episodes, reward_sum, dones = sums
    nan = torch.full_like(episodes, float("nan"))
    return {
        "rollout/ep_return_mean": torch.where(episodes > 0, ret_sum / episodes.clamp_min(1), nan),
        "rollout/ep_len_mean": torch.where(episodes > 0, len_sum / episodes.clamp_min(1), nan),
        "rollout/episodes": episodes,
        # The article's figure: all reward in the rollout over the number of episode ends.
        "rollout/article_avg_reward": reward_sum / dones.clamp_min(1),
    }


def to_numbers(metrics: Mapping[str, torch.Tensor | float | int]) -> Metrics:
    """Plain Python numbers from a dict of 0-dim tensors and numbers, with one device-to-host copy."""
    out: Metrics = {k: v for k, v in metrics.items() if not isinstance(v, torch.Tensor)}
    by_device: dict[torch.device, list[str]] = {}
    for k, v in metrics.items():
        if isinstance(v, torch.Tensor):
            by_device.setdefault(v.device, []).append(k)
    for names in by_device.values():  # stacked where they live: one copy to the host per device
        out.update(zip(names, torch.stack([metrics[k].detach().double().reshape(()) for k in names]).tolist()))
    ordered = {k: out[k] for k in metrics}
    return {k: int(v) if k in COUNTS else float(v) for k, v in ordered.items()}
