"""Record a run's policy to a GIF or MP4: one Gymnasium env with `render_mode="rgb_array"`, via imageio."""
from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from reinforce.tools.evaluate import EVAL_SEED_OFFSET, load_run_policy, quiet_make

GIF_MAX_FPS = 50  # GIF delays are in 1/100 s and many viewers slow anything under 2/100 s down to 1/10 s
VIDEO_EXTRA = "reinforce[video]"


class MissingExtraError(ImportError):
    """An optional dependency is needed for what was asked."""


def check_output(out: str | Path) -> str:
    """The format for `out` ("gif" or "mp4"), or a clear error (before any work is done)."""
    suffix = Path(out).suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"--out must end in .gif or .mp4, got {str(out)!r}")
    if suffix == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise MissingExtraError(
            f"writing MP4 needs the imageio-ffmpeg package: pip install '{VIDEO_EXTRA}' (or write a .gif)"
        )
    return suffix[1:]


def _to_env(action: torch.Tensor, space: gym.Space) -> Any:
    if isinstance(space, gym.spaces.Discrete):
        return int(action.item())
    return np.clip(action.cpu().numpy().astype(np.float32), space.low, space.high)  # as in training: clip on the way


def record_run(
    run_dir: str | Path,
    out: str | Path,
    episodes: int = 1,
    deterministic: bool = False,
    seed: int | None = None,
    max_steps: int | None = None,
    fps: float | None = None,
) -> dict[str, Any]:
    """Render `episodes` episodes of the run's policy into `out` (.gif or .mp4), one after another.

    `max_steps` cuts each episode (handy for long swing-up episodes); `fps` defaults to the env's
    `render_fps` (GIFs keep every k-th frame to stay at or under 50 frames/s). Returns what was written.
    """
    import imageio

    kind = check_output(out)
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be an integer >= 1, got {episodes!r}")
    loaded = load_run_policy(run_dir)
    seed = loaded.cfg.seed + EVAL_SEED_OFFSET if seed is None else seed
    # Off-screen rendering needs no display; without this SDL complains on headless machines.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    env = quiet_make(loaded.cfg.env_id, render_mode="rgb_array")
    env_fps = float(fps or env.metadata.get("render_fps") or 30)
    stride = max(1, math.ceil(env_fps / GIF_MAX_FPS)) if kind == "gif" else 1
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")  # imageio picks the format from the suffix
    if kind == "gif":
        writer = imageio.get_writer(tmp, mode="I", duration=1000.0 * stride / env_fps, loop=0)
    else:
        writer = imageio.get_writer(tmp, fps=env_fps, macro_block_size=8)
    frames, returns = 0, []
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for episode in range(episodes):
                obs, _ = env.reset(seed=seed + episode)
                total, step, done = 0.0, 0, False
                while not done and (max_steps is None or step < max_steps):
                    if step % stride == 0:
                        writer.append_data(np.asarray(env.render()))
                        frames += 1
                    obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(1, -1)
                    action = loaded.policy.act(obs_t, deterministic=deterministic)[0]
                    obs, reward, terminated, truncated, _ = env.step(_to_env(action, env.action_space))
                    total, step, done = total + float(reward), step + 1, terminated or truncated
                writer.append_data(np.asarray(env.render()))  # the final state
                frames += 1
                returns.append(total)
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        env.close()
    return {"out": str(out), "frames": frames, "fps": env_fps / stride, "episode_returns": returns}
