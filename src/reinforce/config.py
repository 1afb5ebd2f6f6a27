"""One typed config for a training run, the article's presets, and loading/saving as TOML."""
from __future__ import annotations

import dataclasses
import difflib
import sys
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


BACKENDS = ("auto", "native", "sync", "async", "envpool")
RETURN_FORMS = ("reward_to_go", "total")
BASELINES = ("none", "mean", "value", "gae")
LR_SCHEDULES = ("constant", "linear")


@dataclass
class Config:
    """Everything that defines a run. Units: steps are env steps per env unless said otherwise."""

    env_id: str = "CartPole-v0"
    """Any registered Gymnasium id with a Box observation and a Discrete or Box action space."""
    num_envs: int = 32
    """E: environments stepped in parallel; one rollout holds T·E transitions."""
    steps_per_rollout: int = 1000
    """T: steps per env in each epoch's rollout."""
    epochs: int = 100
    """Number of rollouts, each followed by exactly one optimiser step."""
    lr: float = 0.1
    """Adam learning rate."""
    gamma: float = 0.99
    """Discount factor, in [0, 1]."""
    hidden_sizes: tuple[int, ...] | None = None
    """Policy MLP hidden layers; () is linear; None takes the policy's default (linear categorical, 64-64 Gaussian)."""
    activation: str | None = None
    """Hidden activation: relu, tanh or elu; None takes the policy's default."""
    log_std_init: float = 0.0
    """Gaussian policies: initial log σ of every action dimension."""
    reset_each_epoch: bool = True
    """Reset all envs at the start of every rollout, as the article does."""
    seed: int = 0
    """Seeds torch (policy init, action sampling) and the envs (sub-env i gets seed + i)."""
    backend: str = "auto"
    """Vector env backend: auto (native where we have one, else sync), native, sync, async or envpool."""
    device: str = "cpu"
    """Torch device for the policy and, with native envs, the environments: cpu or cuda."""
    num_threads: int | None = 1
    """Torch intra-op threads on CPU; 1 measured fastest here (small tensors, shared cores); None keeps torch's default."""
    returns: str = "reward_to_go"
    """Weight of log π(a_t|s_t): reward_to_go (G_t) or total (the episode's G_0, the article's first form)."""
    baseline: str = "none"
    """none, mean (leave-one-env-out batch mean), value (learned V(s)) or gae (GAE(λ) from V)."""
    gae_lambda: float = 0.95
    """λ of GAE, in [0, 1]; 1 gives return minus value (unbiased), lower trades bias for variance."""
    normalize_advantages: bool = False
    """Scale the weights to zero mean, unit std within each batch."""
    entropy_coef: float = 0.0
    """Bonus on the policy's mean entropy (subtracted from the loss)."""
    max_grad_norm: float | None = None
    """Clip the policy gradient's global norm to this; None = no clipping."""
    lr_schedule: str = "constant"
    """constant, or linear decay to 0 over `epochs`."""
    normalize_observations: bool = False
    """Running mean/std normalisation of observations, stored in the policy and frozen at evaluation."""
    squash: bool = False
    """Gaussian policies: tanh-squash samples into the action bounds (with the log-prob correction) instead of clipping."""
    value_lr: float = 1e-3
    """Adam learning rate of the value function (baselines value and gae)."""
    value_hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of the value MLP (tanh)."""
    value_iters: int = 10
    """Full-batch gradient steps fitting V to the returns, per epoch."""

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Config:
        return from_dict({**self.to_dict(), **changes})


def validate(cfg: Config) -> None:
    """Raise ValueError naming the first invalid hyperparameter and what is accepted."""
    checks = [
        (cfg.num_envs >= 1, f"num_envs must be >= 1, got {cfg.num_envs}"),
        (cfg.steps_per_rollout >= 1, f"steps_per_rollout must be >= 1, got {cfg.steps_per_rollout}"),
        (cfg.epochs >= 0, f"epochs must be >= 0, got {cfg.epochs}"),
        (cfg.lr > 0 and cfg.lr == cfg.lr, f"lr must be > 0, got {cfg.lr}"),
        (0.0 <= cfg.gamma <= 1.0, f"gamma must be in [0, 1], got {cfg.gamma}"),
        (cfg.backend in BACKENDS, f"backend must be one of {', '.join(BACKENDS)}, got {cfg.backend!r}"),
        (cfg.activation in (None, "relu", "tanh", "elu"), f"activation must be relu, tanh or elu, got {cfg.activation!r}"),
        (cfg.hidden_sizes is None or all(h >= 1 for h in cfg.hidden_sizes), f"hidden_sizes must be positive, got {cfg.hidden_sizes}"),
        (cfg.num_threads is None or cfg.num_threads >= 1, f"num_threads must be >= 1 or None, got {cfg.num_threads}"),
        (cfg.returns in RETURN_FORMS, f"returns must be one of {', '.join(RETURN_FORMS)}, got {cfg.returns!r}"),
        (cfg.baseline in BASELINES, f"baseline must be one of {', '.join(BASELINES)}, got {cfg.baseline!r}"),
        (0.0 <= cfg.gae_lambda <= 1.0, f"gae_lambda must be in [0, 1], got {cfg.gae_lambda}"),
        (cfg.entropy_coef >= 0, f"entropy_coef must be >= 0, got {cfg.entropy_coef}"),
        (cfg.max_grad_norm is None or cfg.max_grad_norm > 0, f"max_grad_norm must be > 0 or None, got {cfg.max_grad_norm}"),
        (cfg.lr_schedule in LR_SCHEDULES, f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {cfg.lr_schedule!r}"),
        (cfg.value_lr > 0, f"value_lr must be > 0, got {cfg.value_lr}"),
        (cfg.value_iters >= 1, f"value_iters must be >= 1, got {cfg.value_iters}"),
        (all(h >= 1 for h in cfg.value_hidden_sizes), f"value_hidden_sizes must be positive, got {cfg.value_hidden_sizes}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


PRESETS: dict[str, Config] = {
    # The article's first experiment: linear softmax policy on CartPole-v0.
    "cartpole": Config(
        env_id="CartPole-v0", num_envs=32, steps_per_rollout=1000, epochs=100, lr=0.1, gamma=0.99, hidden_sizes=()
    ),
    # The article's second: 64-64 ReLU Gaussian on the swing-up. The article's covariance quirk
    # (σ passed where σ² belongs, log σ = 1) means its real starting std is e^0.5; we start there.
    "swingup": Config(
        env_id="reinforce/CartPoleSwingUp-v0",
        num_envs=256,
        steps_per_rollout=1000,
        epochs=20,
        lr=1e-2,
        gamma=0.999,
        hidden_sizes=(64, 64),
        activation="relu",
        log_std_init=0.5,
    ),
    # Fastest CartPole-v1 solver found by benchmarks/time_to_solve.py: many small updates from
    # wide, short rollouts; leave-one-env-out mean baseline with normalised advantages.
    "cartpole-fast": Config(
        env_id="CartPole-v1", num_envs=512, steps_per_rollout=64, epochs=100, lr=0.3, gamma=0.99, hidden_sizes=(),
        reset_each_epoch=False, baseline="mean", normalize_advantages=True,
    ),
    # Issue-4 benchmark pairs: the article's algorithm and settings ("-article": reward-to-go, no
    # baseline; linear policy, 32 envs, T 1000, lr 0.1 for discrete actions) against a variant with
    # GAE advantages, normalised advantages and observations, and many smaller updates ("-gae").
    "cartpole-v1-article": Config(env_id="CartPole-v1", epochs=31, hidden_sizes=()),
    "cartpole-v1-gae": Config(
        env_id="CartPole-v1", num_envs=64, steps_per_rollout=256, epochs=61, lr=0.05, hidden_sizes=(),
        reset_each_epoch=False, baseline="gae", normalize_advantages=True,
    ),
    "acrobot-article": Config(env_id="Acrobot-v1", epochs=16, hidden_sizes=()),
    "acrobot-gae": Config(
        env_id="Acrobot-v1", num_envs=16, steps_per_rollout=256, epochs=122, lr=3e-3, hidden_sizes=(64, 64),
        activation="tanh", reset_each_epoch=False, baseline="gae", normalize_advantages=True, normalize_observations=True,
    ),
    "pendulum-article": Config(
        env_id="Pendulum-v1", num_envs=256, steps_per_rollout=1000, epochs=4, lr=1e-2, gamma=0.999,
        hidden_sizes=(64, 64), activation="relu", log_std_init=0.5,
    ),
    "pendulum-gae": Config(
        env_id="Pendulum-v1", num_envs=32, steps_per_rollout=32, epochs=976, lr=3e-3, gamma=0.9, hidden_sizes=(64, 64),
        activation="tanh", reset_each_epoch=False, baseline="gae", normalize_advantages=True, normalize_observations=True,
        value_lr=3e-3, lr_schedule="linear",
    ),
    "swingup-gae": Config(
        env_id="reinforce/CartPoleSwingUp-v0", num_envs=64, steps_per_rollout=256, epochs=312, lr=1e-3, gamma=0.99,
        hidden_sizes=(64, 64), activation="tanh", reset_each_epoch=False, baseline="gae", normalize_advantages=True,
        normalize_observations=True,
    ),
    # MuJoCo (optional `mujoco` extra), 3M env steps. "-article": the swing-up preset's Gaussian
    # 64-64 ReLU policy, 256 envs × T 1000, lr 1e-2, γ 0.999, no baseline (12 updates). "-gae": an
    # A2C-sized variant, 23k small updates from 16 envs × 8 steps, lr decayed linearly to 0, σ₀ = e^-0.5.
    # (16 × 64-step batches at lr 3e-4 were far slower: one Adam step per batch moves log σ by ~lr.)
    **{
        f"{name}-article": Config(
            env_id=env_id, num_envs=256, steps_per_rollout=1000, epochs=12, lr=1e-2, gamma=0.999,
            hidden_sizes=(64, 64), activation="relu", log_std_init=0.5,
        )
        for name, env_id in (("halfcheetah", "HalfCheetah-v5"), ("hopper", "Hopper-v5"))
    },
    **{
        f"{name}-gae": Config(
            env_id=env_id, num_envs=16, steps_per_rollout=8, epochs=23438, lr=7e-4, gamma=0.99,
            hidden_sizes=(64, 64), activation="tanh", log_std_init=-0.5, reset_each_epoch=False, baseline="gae",
            normalize_advantages=True, normalize_observations=True, max_grad_norm=0.5, lr_schedule="linear",
            value_iters=2,
        )
        for name, env_id in (("halfcheetah", "HalfCheetah-v5"), ("hopper", "Hopper-v5"))
    },
}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    return dataclasses.replace(PRESETS[name])


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(Config)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check `value` against the field's type hint; ints are accepted where floats are expected."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        hint = next(h for h in options if h is not type(None))
        origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise TypeError(f"config key {name!r} must be a list of integers, got {value!r}")
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool) or not isinstance(value, hint):
        raise TypeError(f"config key {name!r} must be {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def from_dict(data: dict[str, Any]) -> Config:
    """Build a Config, refusing unknown keys (with a suggestion) and values of the wrong type."""
    hints = _field_types()
    known = [f.name for f in fields(Config)]
    values = {}
    for key, value in data.items():
        if key not in hints:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise KeyError(f"unknown config key {key!r}{hint}")
        values[key] = _coerce(key, value, hints[key])
    return Config(**values)


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` with the value read as TOML (numbers, booleans, lists); bare words are strings."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like key=value")
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(cfg: Config) -> str:
    """Flat TOML; keys whose value is None (meaning "default") are left out."""
    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in cfg.to_dict().items() if v is not None)


def load(path: str | Path) -> Config:
    """Read a TOML config file, or `config.toml` inside a run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config file {str(path)!r} is not valid TOML: {err}") from None
    return from_dict(data)


def save(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(to_toml(cfg))


__all__ = ["Config", "PRESETS", "preset", "from_dict", "load", "save", "to_toml", "parse_override"]
