"""Record a run's policy to a GIF or MP4 through the shared episode runner, via imageio.

One Gymnasium env (`render_mode="rgb_array"`) in a one-env SAME_STEP vector env. Its frames are
collected by Gymnasium's `RenderCollection` wrapper inside the sub-env, on every reset and step: the
vector env resets a finished episode within the step that ends it, so a `render()` after that step
would already show the next episode's start, while the collected list still holds the final state.
"""
from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium.wrappers import RenderCollection

from reinforce.checks import require_finite, require_int
from reinforce.envs.vector import VecEnv, check_env_id, make_vec_env
from reinforce.tools.episodes import run_episodes
from reinforce.tools.evaluate import EVAL_SEED_OFFSET, load_run_policy, read_run_config

GIF_MAX_FPS = 50  # GIF delays are in 1/100 s and many viewers slow anything under 2/100 s down to 1/10 s
VIDEO_EXTRA = "reinforce[video]"


class MissingExtraError(ImportError):
    """An optional dependency is needed for what was asked."""


class NoDisplayError(ImportError):
    """Rendering needs an OpenGL context that this machine cannot open (no display, no EGL).

    An ImportError, as a missing extra is: the fix is to make another GL backend available."""


# Words of the errors MuJoCo, GLFW, EGL and OSMesa raise when no OpenGL context can be created.
_GL_ERROR = re.compile(r"\b(e?gl|glfw\w*|glx|osmesa|opengl|display|gladloadgl)\b|mujoco_gl|(?-i:\bgl[A-Z])", re.IGNORECASE)
NO_DISPLAY_HINT = "rendering MuJoCo needs a display; on a headless machine set MUJOCO_GL=egl (or osmesa)"


def _chain(err: BaseException | None):
    """`err` and the exceptions it was raised from or while handling (a `from None` hides, not drops, them)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _looks_like_gl(err: BaseException, paths: tuple[str, ...]) -> bool:
    text = f"{type(err).__name__} {err}"
    for path in paths:  # a folder named "display-test" in a message is not a GL error
        text = text.replace(path, "")
    return bool(_GL_ERROR.search(text))


@contextlib.contextmanager
def display_errors_are_one_line(*paths: str | Path):
    """Turn an error from opening an OpenGL context (MuJoCo rendering without a display) into one
    NoDisplayError saying to set MUJOCO_GL; every other error passes unchanged. `paths` (the run
    folder, the output file) are ignored in the messages."""
    try:
        yield
    except Exception as err:
        ignored = tuple(str(p) for p in paths)
        cause = next((e for e in _chain(err) if _looks_like_gl(e, ignored)), None)
        if cause is None or isinstance(err, NoDisplayError):
            raise
        reason = " ".join(f"{type(cause).__name__}: {cause}".split())[:160]  # one line, however long the original
        raise NoDisplayError(f"{NO_DISPLAY_HINT} ({reason})") from err


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


def _frame_env(env_id: str, max_steps: int | None, wrappers: tuple[str, ...] = ()) -> VecEnv:
    """A one-env vector env whose `render()` returns ([frames since the last call],): (1,) lists of (H, W, 3) uint8."""
    spec = check_env_id(env_id)
    kwargs: dict[str, Any] = {
        "render_mode": "rgb_array",
        # pop_frames: each render() hands over the new frames only; no reset_clean: the autoreset
        # inside the ending step must not drop that episode's final frame.
        "wrappers": [lambda e: RenderCollection(e, pop_frames=True, reset_clean=False)],
    }
    if max_steps is not None:  # cut each episode there, unless the env's own time limit comes first
        kwargs["max_episode_steps"] = min(max_steps, spec.max_episode_steps or max_steps)
    with warnings.catch_warnings():  # CartPole-v0 is out of date: it is the article's env, on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        return make_vec_env(spec.id, 1, backend="sync", env_kwargs=kwargs, wrappers=wrappers)


MIN_FRAME_SIDE = 160  # smaller renders (MinAtar's 10×10) are enlarged by whole pixels to at least this


def as_video_frame(frame: Any) -> np.ndarray:
    """An env's rgb_array render as a writable (H, W, 3) uint8 frame: float colours in [0, 1] (MinAtar's)
    scaled to 0-255, tiny grids enlarged by an integer factor (nearest pixel, nothing blurred)."""
    image = np.asarray(frame)
    if image.dtype != np.uint8:
        image = np.clip(image * (255.0 if image.max(initial=0) <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    factor = -(-MIN_FRAME_SIDE // max(image.shape[:2]))
    return image.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else image


class _FrameSink:
    """The `on_step` hook of one recorded episode: writes states 0, stride, 2·stride, ... and always the final one."""

    def __init__(self, env: VecEnv, writer: Any, stride: int):
        self.env, self.writer, self.stride = env, writer, stride
        self.state = 0  # index within the episode of the next collected frame (0: the reset state)
        self.frames = 0  # written

    def __call__(self, obs, reward, terminated, truncated, info) -> None:
        frames = list(self.env.render()[0])
        ended = bool(terminated[0] or truncated[0])
        if ended:
            frames = frames[:-1]  # the last one is the autoreset's start of an episode we do not record
        for n, frame in enumerate(frames, start=1):
            if self.state % self.stride == 0 or (ended and n == len(frames)):
                self.writer.append_data(as_video_frame(frame))
                self.frames += 1
            self.state += 1


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
    require_int("episodes", episodes, 1)
    if max_steps is not None:
        require_int("max_steps", max_steps, 1)
    if fps is not None:
        fps = require_finite("fps", fps, 0, low_open=True)
    cfg = read_run_config(run_dir)
    seed = cfg.seed + EVAL_SEED_OFFSET if seed is None else require_int("seed", seed, 0)
    # Off-screen rendering needs no display; without this SDL complains on headless machines.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    out = Path(out)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")  # imageio picks the format from the suffix
    # fork_rng: building and sampling leave the caller's torch RNG as it was
    with torch.random.fork_rng(devices=[]), display_errors_are_one_line(run_dir, out, tmp):
        env = _frame_env(cfg.env_id, max_steps, cfg.wrappers)
        writer = None
        try:
            policy = load_run_policy(run_dir, env=env).policy
            env_fps = float(fps or env.env.metadata.get("render_fps") or 30)  # env.env: the Gymnasium vector env
            stride = max(1, math.ceil(env_fps / GIF_MAX_FPS)) if kind == "gif" else 1
            out.parent.mkdir(parents=True, exist_ok=True)
            if kind == "gif":
                writer = imageio.get_writer(tmp, mode="I", duration=1000.0 * stride / env_fps, loop=0)
            else:
                writer = imageio.get_writer(tmp, fps=env_fps, macro_block_size=8)
            torch.manual_seed(seed)  # the sampled actions depend on the seed only
            frames, returns = 0, []
            for episode in range(episodes):  # one runner call each: episode k starts from seed + k
                sink = _FrameSink(env, writer, stride)
                ret, _ = run_episodes(policy, env, 1, deterministic, seed=seed + episode, on_step=sink)
                frames += sink.frames
                returns.append(float(ret[0]))
            writer.close()
            os.replace(tmp, out)
        except BaseException:
            if writer is not None:
                writer.close()
                tmp.unlink(missing_ok=True)
            raise
        finally:
            env.close()
    return {"out": str(out), "frames": frames, "fps": env_fps / stride, "episode_returns": returns}
