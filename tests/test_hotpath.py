"""`Config.compile`: the rollout's sample, the loss's log-probabilities and the value fit through torch.compile
give the eager path's numbers to float rounding, from the same seed (reinforce.hotpath)."""
import dataclasses
import math

import pytest
import torch

from reinforce.config import Config
from reinforce.hotpath import HotPath
from reinforce.run.build import build

SMALL = dict(num_envs=16, steps_per_rollout=8, seed=3, backend="native")
CASES = {
    # the closed-form two-action categorical, no value function
    "cartpole-linear": Config(env_id="CartPole-v1", hidden_sizes=(), lr=0.05, **SMALL),
    # a Gaussian MLP with observation normalisation, GAE and its value fits, an entropy bonus (its gradient)
    "pendulum-gae": Config(env_id="Pendulum-v1", hidden_sizes=(16, 16), baseline="gae", value_hidden_sizes=(16, 16),
                           value_iters=3, normalize_observations=True, normalize_advantages=True, entropy_coef=0.01,
                           reset_each_epoch=False, **SMALL),
}


def trained(cfg: Config, epochs: int):
    _, _, agent = build(cfg)
    first = agent.collect()
    history = [agent.update(first)] + agent.learn(epochs - 1)
    return agent, first, history


@pytest.mark.parametrize("case", list(CASES))
def test_compiled_epochs_match_eager_ones(case):
    eager, eager_batch, eager_history = trained(CASES[case], 3)
    compiled, compiled_batch, compiled_history = trained(dataclasses.replace(CASES[case], compile=True), 3)
    assert compiled.hot.compiled and not eager.hot.compiled
    # the first rollout samples from the same generator: the same actions, the same states
    if eager_batch.actions.dtype == torch.long:
        assert torch.equal(compiled_batch.actions, eager_batch.actions)
    else:
        torch.testing.assert_close(compiled_batch.actions, eager_batch.actions, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(compiled_batch.obs, eager_batch.obs, rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(compiled_history, eager_history):  # loss, entropy, value loss of every epoch
        for key in ("train/loss", "train/entropy", "train/value_loss"):
            if key in theirs:
                assert mine[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-5), key
    for module in ("policy", "value_fn"):
        if getattr(eager, module) is None:
            continue
        for a, b in zip(getattr(compiled, module).parameters(), getattr(eager, module).parameters()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_the_eager_hot_path_is_the_plain_formula():
    _, _, agent = build(CASES["pendulum-gae"])
    batch = agent.with_targets(agent.collect())
    obs_N, actions_N = batch.obs.flatten(0, 1), batch.actions.flatten(0, 1)
    dist = agent.policy.pi(obs_N)
    expected = -(dist.log_prob(actions_N) * batch.weights.reshape(-1)).mean() - 0.01 * dist.entropy().mean()
    assert torch.equal(agent.loss(batch), expected)
    assert agent.collector.sample == agent.hot.sample and not agent.hot.compiled


@pytest.mark.parametrize("kind, envs", [("gaussian", 2 * 8192 + 100), ("gaussian-2", 2 * 8192 + 100),
                                        ("gaussian", 2 * 8192 + 5), ("categorical", 2 * 8192 + 3),
                                        ("bernoulli", 2 * 8192 + 100)])
def test_many_envs_sample_in_slices_that_draw_what_one_call_draws(kind, envs):
    """On CPU 16,484 envs of a 64-wide MLP go through the policy as 8,192 + 8,192 + 100 rows (a last slice under
    16 rows joins the one before): the same draws as one call, so the same actions to float rounding (Gaussians,
    also with two action dimensions, whose whole-batch mean is a transposed view) or exactly (categorical,
    Bernoulli), and each row's action is its own observation's."""
    from reinforce.policies import BernoulliPolicy, CategoricalPolicy, DiagonalGaussianPolicy
    from reinforce.policy_base import rows_per_slice

    torch.manual_seed(0)
    policy = {"gaussian": lambda: DiagonalGaussianPolicy(5, 1, hidden_sizes=(64, 64)),
              "gaussian-2": lambda: DiagonalGaussianPolicy(5, 2, hidden_sizes=(64, 64)),
              "categorical": lambda: CategoricalPolicy(5, 2, hidden_sizes=(64, 64)),
              "bernoulli": lambda: BernoulliPolicy(5, 3, hidden_sizes=(64, 64))}[kind]()
    assert rows_per_slice(policy, 5, envs) == 8192
    hot = HotPath(policy, None, entropy_grad=False)
    obs = torch.randn(envs, 5)
    calls = []
    pi = policy.pi
    policy.pi = lambda obs, *args: calls.append(obs.shape[0]) or pi(obs, *args)
    with torch.inference_mode():
        torch.manual_seed(1)
        sliced = hot.sample(obs)
        after_slices = torch.get_rng_state()
        torch.manual_seed(1)
        whole = policy.sample(obs)
    assert calls == ([8192, 8192, envs - 16384] if envs - 16384 >= 16 else [8192, envs - 8192]) + [envs]
    assert torch.get_rng_state().equal(after_slices)  # as many draws
    if kind.startswith("gaussian"):
        torch.testing.assert_close(sliced, whole, rtol=0, atol=1e-5)
        assert (sliced - whole).abs().max() < 1e-5 < (sliced - whole.roll(1, 0)).abs().max()
    else:
        assert torch.equal(sliced, whole)



def test_a_policy_that_may_keep_state_is_sampled_whole():
    """Slicing is for policies whose rows are independent (Policy.rows_independent): a subclass that sets it back to
    False, as one keeping per-env state would, sees every env in one call; the library's class, in slices."""
    from reinforce.policies import CategoricalPolicy

    class Stateful(CategoricalPolicy):
        rows_independent = False

    obs = torch.randn(2 * 8192 + 100, 5)
    for cls, expected in ((Stateful, [obs.shape[0]]), (CategoricalPolicy, [8192, 8192, 100])):
        policy = cls(5, 2, hidden_sizes=(64, 64))
        calls = []
        pi = policy.pi
        policy.pi = lambda obs, *args, pi=pi, calls=calls: calls.append(obs.shape[0]) or pi(obs, *args)
        with torch.inference_mode():
            HotPath(policy, None, entropy_grad=False).sample(obs)
        assert calls == expected, cls.__name__


def test_compile_can_be_switched_off_again():
    _, _, agent = build(dataclasses.replace(CASES["cartpole-linear"], compile=True))
    assert agent.hot.compiled
    agent.compile_hot_path(False)
    assert not agent.hot.compiled and agent.collector.sample == agent.hot.sample
    assert agent.hot.sample.__func__ is HotPath._sample  # the plain method, no compiled wrapper around it
    assert math.isfinite(agent.learn(1)[0]["train/loss"])


def test_compile_must_be_a_bool():
    with pytest.raises(ValueError, match="compile must be true or false"):
        Config(compile="yes")


@pytest.mark.parametrize("case", list(CASES))
def test_each_compiled_function_is_one_graph(case):
    """No graph break (a break runs part of the function eagerly, or all of it), and one graph per function
    over several epochs: the rollout's first obs (from reset) is an inference tensor like every later one."""
    from torch._C._dynamo.eval_frame import _debug_get_cache_entry_list
    from torch._dynamo.utils import counters

    counters.clear()
    _, _, agent = build(dataclasses.replace(CASES[case], compile=True))
    agent.learn(3)
    assert not counters["graph_break"], dict(counters["graph_break"])
    functions = {"sample": agent.hot.sample, "logp_entropy": agent.hot.logp_entropy}
    if agent.value_fn is not None:
        functions["value_mse"] = agent.hot.value_mse
    for name, fn in functions.items():
        code = fn._torchdynamo_orig_callable.__func__.__code__
        assert len(_debug_get_cache_entry_list(code)) == 1, name


def test_every_agent_compiles_into_a_cache_of_its_own():
    # Dynamo keeps graphs per code object, at most 8: agents of one process must not share (and exhaust) one
    _, _, first = build(dataclasses.replace(CASES["cartpole-linear"], compile=True))
    _, _, second = build(dataclasses.replace(CASES["cartpole-linear"], compile=True, num_envs=8))
    code = lambda agent: agent.hot.sample._torchdynamo_orig_callable.__func__.__code__  # noqa: E731
    assert code(first) is not code(second) and code(first).co_name == code(second).co_name == "_sample"
