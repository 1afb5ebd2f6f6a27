"""The one schema of a run: `ReinforceOptions` (the algorithm's settings) inside `Config` (env, policy,
seed, device too), every validation rule, and reading and writing them as flat TOML.

`Config` extends `ReinforceOptions`, so the algorithm's options are declared, defaulted and validated
once; `Config.options` hands the algorithm just its part. No torch here: the CLI's `--help` reads it.
"""
from __future__ import annotations

import ast
import dataclasses
import difflib
import re
import sys
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import tomli_w

from reinforce.checks import require_finite, require_int

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


BACKENDS = ("auto", "native", "sync", "async", "envpool")
CUDA_GRAPH_MODES = ("auto", "on", "off")
RETURN_FORMS = ("reward_to_go", "total")
BASELINES = ("none", "mean", "value", "gae")
LR_SCHEDULES = ("constant", "linear")
ACTIVATION_NAMES = ("relu", "tanh", "elu")
ENCODERS = ("auto", "flat", "nature_cnn", "small_cnn")
WRAPPER_SPEC = re.compile(r"\s*([A-Za-z_][\w.]*(?::[A-Za-z_]\w*)?)\s*(?:\((.*)\))?\s*", re.S)
DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?|mps")
MAX_SEED = 2**32 - 1  # numpy and Gymnasium take any non-negative int; 32 bits keep seed + i in range everywhere


@dataclass(frozen=True)
class ReinforceOptions:
    """What the algorithm needs: rollout length, optimiser and estimator settings. Units: env steps per env."""

    steps_per_rollout: int = 1000
    """T: steps per env in each epoch's rollout."""
    epochs: int = 100
    """Number of rollouts, each followed by exactly one policy update; the linear lr schedule's horizon."""
    lr: float = 0.1
    """Adam learning rate of the policy."""
    gamma: float = 0.99
    """Discount factor, in [0, 1]."""
    reset_each_epoch: bool = True
    """Reset all envs at the start of every rollout, as the article does."""
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
    correlated_noise_decay_steps: int = 0
    """Env steps (all envs together) over which a Gaussian policy's correlated exploration fades linearly: the
    exogenous noise's scale (`correlated_noise_steps`) to nothing, or the autoregressive noise's per-step
    correlation ρ (`autoregressive_noise_steps`) to 0, i.e. to white noise of the learned σ; 0: no fade."""
    value_lr: float = 1e-3
    """Adam learning rate of the value function (baselines value and gae)."""
    value_hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of the value MLP (tanh)."""
    value_iters: int = 10
    """Full-batch gradient steps fitting V to the returns, per epoch."""
    mirror_value: bool = True
    """Under the policy's mirror (`mirror_obs_signs`) V is made even too, the mean of V at s and at its image
    (twice the value fit's arithmetic); false fits a plain V (acrobot-fast: same env steps, cheaper epochs)."""
    share_encoder: bool = False
    """V reads the policy's own layers below its output (the CNN of image observations, else the MLP's hidden
    layers) instead of its own network, so the value fit (its own Adam, after the policy step) trains the policy's
    features too: a dense signal beside the policy gradient's, as the MinAtar paper's actor-critic shares its
    torso. Needs the `value` or `gae` baseline and a policy with such layers (not a linear one)."""

    def __post_init__(self) -> None:
        _lists_as_tuples(self)
        validate_options(self)

    @property
    def options(self) -> ReinforceOptions:
        """Just the algorithm's settings (a Config carries more)."""
        return ReinforceOptions(**{f.name: getattr(self, f.name) for f in fields(ReinforceOptions)})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any):
        """A copy with `changes`, read and checked as a config file's values are."""
        return from_dict({**self.to_dict(), **changes}, type(self))


@dataclass(frozen=True)
class Config(ReinforceOptions):
    """Everything that defines a run: the algorithm's options plus env, policy, seed and device."""

    env_id: str = "CartPole-v0"
    """Any registered Gymnasium id with standard spaces (README's tables): Box, Discrete, MultiDiscrete, MultiBinary, Dict or
    Tuple observations; Discrete, MultiDiscrete, MultiBinary or float Box actions."""
    num_envs: int = 32
    """E: environments stepped in parallel; one rollout holds T·E transitions."""
    hidden_sizes: tuple[int, ...] | None = None
    """Policy MLP hidden layers; () is linear; None takes the policy's default (linear categorical, 64-64 Gaussian)."""
    activation: str | None = None
    """Hidden activation: relu, tanh or elu; None takes the policy's default."""
    log_std_init: float = 0.0
    """Gaussian policies: initial log σ of every action dimension."""
    state_dependent_std: bool = False
    """Gaussian policies: log σ(s) = log σ + a linear head on the mean network's last hidden features (zero at
    the start, so σ starts at e^log_std_init everywhere; its input detached, so σ does not reshape the mean's
    features; the head's part clamped to ±4): exploration can differ between states, e.g. wide while the pole
    hangs, narrow while it balances."""
    mirror_obs_signs: tuple[int, ...] = ()
    """A mirror symmetry of the env, one sign (1 or -1) per flattened observation entry; () = none. If flipping
    those entries and mirroring the action maps the env onto itself, the policy is built to respect it:
    Box actions are negated (μ(s) = (f(s) - f(m·s))/2 odd, σ(s) even; the bounds must be symmetric),
    Discrete ones reversed (logits(m·s) = logits(s) reversed); V is made even (`mirror_value`). The swing-up:
    (-1, -1, 1, -1, -1) (x, ẋ, sin θ, θ̇ flip, cos θ stays); Pendulum (1, -1, -1); CartPole (-1, -1, -1, -1);
    Acrobot (1, -1, 1, -1, -1, -1). Such a policy cannot learn a push to one side that the state does not
    call for. Reversal is the only Discrete mirror: an env whose mirror permutes its actions otherwise
    (LunarLander swaps 1 and 3) must not set it."""
    head_init_gain: float | None = None
    """None keeps PyTorch's default init of the policy's output layer; a gain re-initialises it orthogonally
    with that gain and a zero bias (CleanRL uses 0.01), so the untrained policy is near-uniform (discrete)
    or has mean ≈ 0 (Gaussian) in every state instead of a state-dependent offset."""
    correlated_noise_steps: float = 0.0
    """Gaussian policies: correlation time τ (env steps) of exploration noise added to the mean, 0 = none. An
    exogenous AR(1) process ξ (ρ = e^(-1/τ), unit variance, one per env and action dimension, drawn during
    rollouts) shifts the mean by c·ξ, so exploration pushes in one direction for ~τ steps (white noise of σ
    alone averages out in a few). ξ is an input of π(a | s, ξ), stored in the rollout, so the log-probs
    and the gradient stay exact. Evaluation, predict and export act with ξ = 0."""
    correlated_noise_log_scale: float = -1.0
    """Initial log c (learned, one per action dimension) of `correlated_noise_steps`' noise."""
    autoregressive_noise_steps: float = 0.0
    """Gaussian policies: correlation time τ (env steps) of autoregressive exploration, 0 = none (not with
    `correlated_noise_steps`). The Gaussian's noise itself becomes AR(1) within an episode, ρ = e^(-1/τ):
    π(u_t | s_t, s_{t-1}, u_{t-1}) = N(μ(s_t) + ρ(u_{t-1} - μ(s_{t-1})), (1-ρ²)σ²), so pushes last ~τ steps and
    are credited to μ and σ like any action (reinforce.autoregressive). Evaluation acts with the mean."""
    squash: bool = False
    """Gaussian policies: tanh-squash samples into the action bounds (with the log-prob correction) instead of clipping."""
    normalize_observations: bool = False
    """Running mean/std normalisation of observations, stored in the policy and frozen at evaluation."""
    seed: int = 0
    """Seeds torch (policy init, sampling) and the envs: Gymnasium sub-env i gets seed + i; a native env's one generator gets seed."""
    encoder: str = "auto"
    """How observations become the policy's and value's input: auto (from the observation space: images get a CNN,
    the rest is flattened, Discrete one-hot), flat, nature_cnn (images ≥ 36 px a side) or small_cnn (small grids)."""
    wrappers: tuple[str, ...] = ()
    """Gymnasium wrappers applied to every sub-env, in order: a name from gymnasium.wrappers (or module:Name) with
    optional keyword arguments, e.g. "AtariPreprocessing(frame_skip=1)", "FrameStackObservation(stack_size=4)"."""
    backend: str = "auto"
    """Vector env backend: auto (native where we have one, else sync), native, sync, async or envpool."""
    device: str = "cpu"
    """Torch device for the policy and, with native envs, the environments: cpu, cuda, cuda:N or mps."""
    num_threads: int | str | None = 1
    """Torch intra-op threads on CPU: a count (1 measured fastest here: small tensors, shared cores), "auto" (time 1, 2
    and all cores on the first epochs, keep the fastest; the count changes float sums' order, so runs are then
    bit-reproducible only where the same count wins) or None (torch's default)."""
    stop_at_return: float | None = None
    """End a `reinforce train` / `reinforce.train` run once the finished episodes of its newest epochs (at least 20,
    whole epochs) average this return, the run then complete; None trains all `epochs`. `--stop-at-threshold`
    overrides it for one command."""
    cuda_graph: str = "auto"
    """Each epoch (rollout and update) captured once as a CUDA graph and replayed (reinforce.run.graphed): auto (on
    CUDA with a native env), on, or off (eager kernels). On CPU "on" runs the same sync-free code eagerly."""
    compile: bool = False
    """torch.compile the rollout's policy sample, the loss's log-probabilities and the value fit (reinforce.hotpath),
    after ~10 s of compilation: 1.3-1.5x for ReLU MLPs on CPU, ~1x for tanh ones, slower for the linear CartPole policy
    (docs/benchmarks.md). Equal to eager to float rounding; masks, correlated noise, autoregressive noise stay eager."""

    def __post_init__(self) -> None:
        _lists_as_tuples(self)
        validate_options(self)
        validate_config(self)


def _lists_as_tuples(obj: Any) -> None:
    """Lists given for the tuple fields (layer sizes, wrappers: as a Python caller or JSON writes them) stored as
    the tuples the rest expects, so `Config(hidden_sizes=[64, 64])` works and configs stay hashable. Every
    sequence field is a tuple, so any list is one; what is inside is left to the checks."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, list):
            object.__setattr__(obj, f.name, tuple(value))


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


MAX_LAYER_WIDTH = 65_536  # wider layers of a policy MLP are a typo, and would try to allocate gigabytes


def _sizes(name: str, value: Any, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, tuple) or not all(
        isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= MAX_LAYER_WIDTH for h in value
    ):
        raise ValueError(f"{name} must be a list of integers in [1, {MAX_LAYER_WIDTH}], got {value!r}")


def validate_options(o: ReinforceOptions) -> None:
    """Raise ValueError naming the first invalid algorithm setting and what is accepted."""
    require_int("steps_per_rollout", o.steps_per_rollout, 1)
    require_int("epochs", o.epochs, 0)
    require_finite("lr", o.lr, 0.0, low_open=True)
    require_finite("gamma", o.gamma, 0.0, 1.0)
    require_finite("gae_lambda", o.gae_lambda, 0.0, 1.0)
    require_finite("entropy_coef", o.entropy_coef, 0.0)
    if o.max_grad_norm is not None:
        require_finite("max_grad_norm", o.max_grad_norm, 0.0, low_open=True)
    require_finite("value_lr", o.value_lr, 0.0, low_open=True)
    require_int("value_iters", o.value_iters, 1)
    require_int("correlated_noise_decay_steps", o.correlated_noise_decay_steps, 0)
    _sizes("value_hidden_sizes", o.value_hidden_sizes)
    _choice("returns", o.returns, RETURN_FORMS)
    _choice("baseline", o.baseline, BASELINES)
    _choice("lr_schedule", o.lr_schedule, LR_SCHEDULES)
    for name in ("reset_each_epoch", "normalize_advantages", "mirror_value", "share_encoder"):
        if not isinstance(getattr(o, name), bool):
            raise ValueError(f"{name} must be true or false, got {getattr(o, name)!r}")
    if o.share_encoder and o.baseline not in ("value", "gae"):
        raise ValueError(f"share_encoder=true shares the policy's encoder with a value function: use baseline 'value' "
                         f"or 'gae' with it, got baseline {o.baseline!r}")
    if o.baseline == "gae" and o.returns == "total":
        raise ValueError("baseline 'gae' replaces the return; use returns='reward_to_go' with it")


def validate_config(c: Config) -> None:
    """Raise ValueError naming the first invalid run setting (env, policy, seed, device)."""
    if not isinstance(c.env_id, str) or not c.env_id:
        raise ValueError(f"env_id must be a Gymnasium id such as 'CartPole-v1', got {c.env_id!r}")
    require_int("num_envs", c.num_envs, 1)
    _sizes("hidden_sizes", c.hidden_sizes, optional=True)
    if c.activation is not None:
        _choice("activation", c.activation, ACTIVATION_NAMES)
    require_finite("log_std_init", c.log_std_init)
    require_finite("correlated_noise_log_scale", c.correlated_noise_log_scale)
    require_finite("correlated_noise_steps", c.correlated_noise_steps, low=0.0)
    # τ ≤ 1e6 keeps ρ = e^(-1/τ) below 1 in float arithmetic (1 - ρ² would round to 0 near 1e16)
    require_finite("autoregressive_noise_steps", c.autoregressive_noise_steps, low=0.0, high=1e6)
    if c.autoregressive_noise_steps and c.correlated_noise_steps:
        raise ValueError("autoregressive_noise_steps and correlated_noise_steps are two kinds of correlated exploration: "
                         "set one of them (the other to 0)")
    if c.correlated_noise_decay_steps and not (c.correlated_noise_steps or c.autoregressive_noise_steps):
        raise ValueError("correlated_noise_decay_steps fades the correlated noise, which is off: set correlated_noise_steps "
                         "or autoregressive_noise_steps (a correlation time in env steps, e.g. 30) or leave the decay at 0")
    if not isinstance(c.mirror_obs_signs, tuple) or not all(type(sign) is int and sign in (1, -1)
                                                            for sign in c.mirror_obs_signs):
        raise ValueError(f"mirror_obs_signs takes one sign, 1 or -1, per observation entry (() = no mirror), "
                         f"got {c.mirror_obs_signs!r}")
    if c.head_init_gain is not None:
        require_finite("head_init_gain", c.head_init_gain)
        if c.head_init_gain < 0:
            raise ValueError(f"head_init_gain must be None or a number >= 0, got {c.head_init_gain!r}")
    require_int("seed", c.seed, 0)
    if c.seed > MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, {MAX_SEED}], got {c.seed!r}")
    _choice("backend", c.backend, BACKENDS)
    _choice("cuda_graph", c.cuda_graph, CUDA_GRAPH_MODES)
    if c.stop_at_return is not None:
        require_finite("stop_at_return", c.stop_at_return)
    _choice("encoder", c.encoder, ENCODERS)
    if not isinstance(c.wrappers, tuple):
        raise ValueError(f"wrappers must be a list of wrapper names, got {c.wrappers!r}")
    for spec in c.wrappers:
        parse_wrapper(spec)
    if not isinstance(c.device, str) or not DEVICE_PATTERN.fullmatch(c.device):
        raise ValueError(f"device must be cpu, cuda, cuda:N or mps, got {c.device!r}")
    if isinstance(c.num_threads, str):
        if c.num_threads != "auto":
            raise ValueError(f"num_threads must be a count >= 1, auto or none, got {c.num_threads!r}")
    elif c.num_threads is not None:
        require_int("num_threads", c.num_threads, 1)
    for name in ("squash", "normalize_observations", "compile"):
        if not isinstance(getattr(c, name), bool):
            raise ValueError(f"{name} must be true or false, got {getattr(c, name)!r}")


def parse_wrapper(spec: Any) -> tuple[str, dict[str, Any]]:
    """`"Name"` or `"Name(key=value, ...)"` (values as Python literals) -> (name, kwargs); ValueError otherwise.
    `Name` may be `package.module:Name` for a wrapper outside gymnasium.wrappers."""
    match = WRAPPER_SPEC.fullmatch(spec) if isinstance(spec, str) else None
    if match is None:
        raise ValueError(f"wrapper {spec!r} must look like Name or Name(key=value, ...), e.g. 'FrameStackObservation(stack_size=4)'")
    name, args = match.group(1), match.group(2)
    if not args or not args.strip():
        return name, {}
    try:
        call = ast.parse(f"f({args})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args or any(k.arg is None for k in call.keywords):
            raise ValueError
        return name, {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError):
        raise ValueError(f"wrapper {spec!r}: arguments must be key=value pairs of literals, e.g. 'FrameStackObservation(stack_size=4)'") from None


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check `value` against the field's type hint; ints are accepted where floats are expected."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        kinds = [h for h in options if h is not type(None)]
        # int | str (num_threads: a count or "auto"): a str is taken as is, the field's check reads it
        hint = str if str in kinds and isinstance(value, str) else kinds[0]
        origin = typing.get_origin(hint)
    if origin is tuple and typing.get_args(hint)[0] is str:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise TypeError(f"config key {name!r} must be a list of strings, got {value!r}")
        return tuple(value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise TypeError(f"config key {name!r} must be a list of integers, got {value!r}")
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool) or not isinstance(value, hint):
        raise TypeError(f"config key {name!r} must be {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def from_dict(data: dict[str, Any], cls: type = Config) -> Any:
    """Build a Config (or ReinforceOptions), refusing unknown keys (with a suggestion) and wrong types."""
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    values = {}
    for key, value in data.items():
        if key not in hints:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise KeyError(f"unknown config key {key!r}{hint}")
        values[key] = _coerce(key, value, hints[key])
    return cls(**values)


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


def to_toml(cfg: Config) -> str:
    """Flat TOML, env settings first; keys whose value is None (meaning "default") are left out."""
    data = cfg.to_dict()
    first = [f.name for f in fields(Config) if f.name not in {g.name for g in fields(ReinforceOptions)}]
    ordered = {k: data[k] for k in [*first, *(k for k in data if k not in first)] if data[k] is not None}
    return tomli_w.dumps(ordered)


def load(path: str | Path) -> Config:
    """Read a TOML config file, or `config.toml` inside a run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.toml"
    return from_dict(read_toml(path, "config file"))


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The TOML table in `path`; a missing, binary or malformed file is one error naming `what` and the path."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist") from None
    except UnicodeDecodeError:
        raise ValueError(f"{what} {str(path)!r} is not a text file") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{what} {str(path)!r} is not valid TOML: {err}") from None


def save(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(to_toml(cfg))


__all__ = ["BACKENDS", "Config", "ReinforceOptions", "from_dict", "load", "save", "to_toml", "parse_override"]
