"""Save and restore a vector env's state for resuming a run, as far as the env allows.

Two levels:

* ``full``: native batched envs (`get_state` / `set_state`): physics, step counters and the
  generator. A resumed run continues exactly where it stopped.
* ``rng``: Gymnasium vector envs (sync or async). Each sub-env's `np_random` generator is saved
  (as JSON text: PCG64 states are 128-bit integers); the physics state is not. With
  `reset_each_epoch=True` (every rollout starts from a reset) that is all a rollout depends on for
  envs whose randomness lives in `np_random` (classic control, the swing-up), so those runs too
  resume exactly; with `reset_each_epoch=False` the episodes in progress are lost and the envs are
  reset on resume.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np


def capture_env_state(env: Any) -> dict[str, Any] | None:
    """The env's state as tensors and plain types, or None when nothing can be saved."""
    if hasattr(env, "get_state"):
        try:
            return {"kind": "full", "state": env.get_state()}
        except RuntimeError:  # never reset: nothing to save yet
            return None
    vec = getattr(env, "env", None)  # GymnasiumVecEnv wraps a gymnasium VectorEnv
    if vec is None or not hasattr(vec, "get_attr"):
        return None
    try:
        generators = vec.get_attr("np_random")
        states = [g.bit_generator.state for g in generators]
    except Exception:  # an env without np_random: nothing we can capture
        return None
    return {"kind": "rng", "np_random": json.dumps(states)}


def restore_env_state(env: Any, state: dict[str, Any] | None) -> str:
    """Apply `capture_env_state`'s result; returns the level restored: "full", "rng" or "none"."""
    if state is None:
        return "none"
    if state["kind"] == "full" and hasattr(env, "set_state"):
        env.set_state(state["state"])
        return "full"
    vec = getattr(env, "env", None)
    if state["kind"] == "rng" and vec is not None and hasattr(vec, "set_attr"):
        states = json.loads(state["np_random"])
        if len(states) != env.num_envs:
            raise ValueError(f"saved env state is for {len(states)} envs, this env has {env.num_envs}")
        generators = []
        for s in states:
            bit_generator = getattr(np.random, s["bit_generator"])()
            bit_generator.state = s
            generators.append(np.random.Generator(bit_generator))
        vec.set_attr("np_random", generators)
        return "rng"
    return "none"
