"""The REINFORCE update: unbiased gradient, metrics, clear errors, reproducibility."""
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import reinforce
from reinforce.metrics import METRIC_NAMES
from toy_envs import TinyMDP


def flat_grad(policy):
    return torch.cat([p.grad.reshape(-1) for p in policy.parameters()])


def test_loss_gradient_is_unbiased_on_enumerable_mdp():
    """E[∇ loss] = -∇J(θ)/H when each env runs one H-step episode per rollout (γ = 1).

    The loss averages over T·E rows (T = H here), so its gradient is -(1/(H·E)) Σ_e Σ_t ∇log π·G_t,
    whose expectation is -∇J/H. Tolerance: 4 standard errors of the mean over batches.
    """
    torch.manual_seed(0)
    policy = reinforce.CategoricalPolicy(obs_dim=2, n_actions=2)
    with torch.no_grad():  # move away from the uniform policy so every term matters
        policy.logits[0].weight.copy_(torch.tensor([[0.3, -0.4], [-0.2, 0.5]]))
        policy.logits[0].bias.copy_(torch.tensor([0.1, -0.1]))
    env = reinforce.make_vec_env("tests/TinyMDP-v0", num_envs=64, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, policy, lr=1e-3, gamma=1.0, steps_per_rollout=TinyMDP.H)

    objective = TinyMDP.exact_objective(policy)
    exact = torch.autograd.grad(objective, list(policy.parameters()))
    exact = -torch.cat([g.reshape(-1) for g in exact]) / TinyMDP.H

    samples = []
    for _ in range(300):
        batch = agent.collect()
        assert batch.terminated[-1].all() and batch.episode_returns.numel() == 64  # one episode per env
        policy.zero_grad()
        agent.loss(batch).backward()
        samples.append(flat_grad(policy).clone())
    samples = torch.stack(samples).double()
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    assert (exact.abs() > 4 * se).any(), "test has no power: exact gradient indistinguishable from 0"
    z = (mean - exact.double()).abs() / se
    assert (z < 4).all(), f"z-scores {z.tolist()}"


def test_update_moves_parameters_and_reports_all_metrics():
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4, seed=0, backend="sync")
    policy = reinforce.CategoricalPolicy(4, 2)
    before = [p.detach().clone() for p in policy.parameters()]
    agent = reinforce.Reinforce(env, policy, lr=0.1, steps_per_rollout=50)
    history = agent.learn(epochs=2)
    assert [m["epoch"] for m in history] == [0, 1]
    assert set(history[-1]) == set(METRIC_NAMES)  # no value function: no value loss
    assert history[-1]["time/env_steps"] == 2 * 4 * 50
    assert history[1]["time/wall_s"] > history[0]["time/wall_s"] > 0
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.parameters()))
    m = history[0]
    # CartPole pays 1 per step, so the mean finished-episode return equals the mean length
    assert m["rollout/ep_return_mean"] == pytest.approx(m["rollout/ep_len_mean"])
    assert m["rollout/episodes"] > 0
    assert 0 < m["train/entropy"] <= math.log(2) + 1e-6


def test_article_avg_reward_is_reward_sum_over_done_count():
    env = reinforce.make_vec_env("tests/Countdown-v0", num_envs=2, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(2, 2), steps_per_rollout=9)
    batch = agent.collect()
    stats = agent.update(batch)
    # rewards per env: 1+2+3 + 1+..+5 + 1 = 22; two episode ends per env
    assert stats["rollout/article_avg_reward"] == pytest.approx(2 * 22 / 4)
    assert stats["rollout/ep_return_mean"] == pytest.approx((6 + 15) / 2)


def test_callback_returning_false_stops_training():
    env = reinforce.make_vec_env("CartPole-v1", num_envs=2, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), steps_per_rollout=10)
    assert len(agent.learn(5, callback=lambda m: m["epoch"] < 1)) == 2


def test_gaussian_actions_are_stored_and_scored_unclipped_and_sent_clipped():
    """Semantics, continuous actions: the rollout keeps the raw Gaussian sample, the loss scores it (log
    density summed over both action dimensions), and only the env's copy is clipped to [-1, 1]."""
    env = reinforce.make_vec_env("tests/ActionEcho-v0", num_envs=4, seed=0, backend="sync")
    policy = reinforce.DiagonalGaussianPolicy(2, 2, hidden_sizes=(), log_std_init=1.0)  # σ = e: most samples leave [-1, 1]
    agent = reinforce.Reinforce(env, policy, gamma=0.9, steps_per_rollout=16)
    batch = agent.collect()
    assert batch.actions.shape == (16, 4, 2)
    assert (batch.actions.abs() > 1).float().mean() > 0.3
    torch.testing.assert_close(batch.obs[1:], batch.actions[:-1].clamp(-1, 1))  # the env echoes what it received
    with torch.no_grad():
        normal = torch.distributions.Normal(policy.mu(batch.obs), policy.log_std.exp())
        logp = normal.log_prob(batch.actions).sum(-1)  # (T, E): both dimensions count
        # reward-to-go by hand: reward = clipped first action component, cut at the rollout's end
        rewards = batch.actions[..., 0].clamp(-1, 1)
        returns = torch.zeros_like(rewards)
        following = torch.zeros(4)
        for t in reversed(range(16)):
            following = rewards[t] + 0.9 * following
            returns[t] = following
        torch.testing.assert_close(agent.loss(batch), -(logp * returns).mean())


class NaNRewardEnv(gym.Env):
    observation_space = gym.spaces.Box(-1, 1, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), float("nan"), False, False, {}


def test_nan_loss_is_reported_with_epoch():
    if "tests/NaNReward-v0" not in gym.registry:
        gym.register("tests/NaNReward-v0", entry_point=NaNRewardEnv)
    env = reinforce.make_vec_env("tests/NaNReward-v0", num_envs=2, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(1, 2), steps_per_rollout=5)
    with pytest.raises(FloatingPointError, match="epoch 0"):
        agent.learn(1)


@pytest.mark.parametrize(
    "kwargs, word",
    [({"lr": 0}, "lr"), ({"lr": -1e-3}, "lr"), ({"lr": float("nan")}, "lr"), ({"gamma": 1.01}, "gamma"),
     ({"gamma": -0.1}, "gamma"), ({"steps_per_rollout": 0}, "steps_per_rollout")],
)
def test_invalid_hyperparameters(kwargs, word):
    env = reinforce.make_vec_env("CartPole-v1", num_envs=1, seed=0, backend="sync")
    with pytest.raises(ValueError, match=word):
        reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), **kwargs)


def test_same_seed_same_metrics():
    from reinforce.run.build import build

    def run():
        cfg = reinforce.Config(env_id="CartPole-v1", num_envs=4, steps_per_rollout=64, epochs=3, lr=0.05, backend="sync")
        _, _, agent = build(cfg)
        return [{k: v for k, v in m.items() if not k.startswith("time/")} for m in agent.learn(cfg.epochs)]

    assert run() == run()


def test_correlated_noise_gradient_is_unbiased():
    """With correlated exploration noise ξ (an input of π(a | s, ξ)), E[∇ loss] = -∇J/H, J exact in closed
    form (SumTargetEnv: its reward couples a_0 and a_1, so the noise's correlation ρ enters J). Every
    parameter is checked, the noise's log-scale c included; the tolerance is 4 standard errors."""
    from toy_envs import SumTargetEnv, assert_sum_target_gradient_is_unbiased

    torch.manual_seed(0)
    policy = reinforce.DiagonalGaussianPolicy(2, 1, hidden_sizes=(), log_std_init=-0.7, noise_steps=2.0,
                                              noise_log_scale_init=-0.3)
    with torch.no_grad():
        policy.mu[0].weight.copy_(torch.tensor([[0.2, -0.4]]))
        policy.mu[0].bias.fill_(0.1)
    # a fresh ξ_0 every rollout (reset_each_epoch): independent batches
    assert_sum_target_gradient_is_unbiased(policy, SumTargetEnv.exact_objective(policy),
                                           lambda batch: batch.noise.shape == (2, 64, 1) or pytest.fail("no noise"))


def test_correlated_noise_is_a_unit_ar1_process_and_only_for_box_actions():
    policy = reinforce.DiagonalGaussianPolicy(3, 2, noise_steps=10.0)
    xi, rows = None, []
    for _ in range(200):
        xi = policy.next_noise(xi, 500)
        rows.append(xi)
    x = torch.stack(rows[50:]).double()  # (150, 500, 2)
    lag1 = (x[1:] * x[:-1]).mean()
    # 150·500·2 products, strongly dependent along time: 5 standard errors of a sample moment, inflated
    # by the AR(1)'s effective sample size factor (1 + ρ²)/(1 - ρ²) ≈ 10 here
    n_eff = x.numel() / ((1 + policy.noise_rho**2) / (1 - policy.noise_rho**2))
    assert abs(float(x.var()) - 1) < 5 * math.sqrt(2 / n_eff)
    assert abs(float(lag1) - policy.noise_rho) < 5 * math.sqrt(2 / n_eff) and policy.noise_rho == math.exp(-0.1)
    with pytest.raises(ValueError, match="correlated_noise_steps applies to Box actions"):
        reinforce.make_policy(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3), noise_steps=5.0)
    with pytest.raises(ValueError, match="correlated_noise_steps"):
        reinforce.Config(correlated_noise_steps=-1.0)
    with pytest.raises(ValueError, match="the correlated noise, which is off: set correlated_noise_steps"):
        reinforce.Config(correlated_noise_decay_steps=1000)


def test_correlated_noise_fades_linearly_over_its_decay_steps():
    from toy_envs import readings_while_fading

    def gain(agent, batch):
        xi = agent.collector.noise_E  # the unscaled process: its last step is the batch's last row / gain
        return float((batch.noise[-1] / xi).mean()) if batch.noise.abs().sum() > 0 else 0.0

    gains = readings_while_fading(reinforce.DiagonalGaussianPolicy(2, 1, hidden_sizes=(), noise_steps=5.0), gain)
    assert gains == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0, 0.0])


@pytest.mark.parametrize("case", ["swingup_mlp_noise_entropy", "cartpole_linear"])
def test_update_in_row_slices_gives_the_whole_batchs_loss_and_gradient(sliced_vs_whole, case):
    """On CPU a long batch's loss goes forward and backward in slices of rows that stay in cache: the same loss,
    entropy and gradient as the whole batch at once, to float32 rounding of sums over 8,192 rows."""
    if case == "cartpole_linear":
        cfg = reinforce.Config(env_id="CartPole-v1", num_envs=128, steps_per_rollout=64, backend="native", seed=0)
    else:  # an entropy bonus in the loss and the correlated noise the rollout drew: both sliced alongside
        cfg = reinforce.Config(env_id="reinforce/CartPoleSwingUp-v0", hidden_sizes=(64, 64), num_envs=128,
                               steps_per_rollout=64, backend="native", seed=0, entropy_coef=0.01,
                               correlated_noise_steps=4.0)
    from reinforce.run.build import build

    env, _, agent = build(cfg)
    (loss, entropy, grad), (whole_loss, whole_entropy, whole_grad), slices = sliced_vs_whole(agent, rows=1024)
    assert slices == 8  # 128 envs x 64 steps in slices of 1,024 rows
    assert not torch.equal(grad, whole_grad)  # summed in another order: not the same bits, so the slices ran
    torch.testing.assert_close(loss, whole_loss, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(entropy, whole_entropy, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grad, whole_grad, rtol=1e-4, atol=1e-6)
    env.close()


def test_slices_hold_2_mb_of_the_widest_activation_and_a_short_batch_is_not_sliced():
    from reinforce.policy_base import mlp, rows_per_slice

    assert rows_per_slice(mlp(5, 1, (64, 64)), 5) == 8192  # 2 MB of the widest activation
    assert rows_per_slice(mlp(4, 2), 4) == 2**19 // 4  # a linear policy: its 4 inputs are the widest
    assert rows_per_slice(mlp(4, 2, (2**20,)), 4) == 1024  # never below 1,024 rows
    mirrored = reinforce.DiagonalGaussianPolicy(3, 1, hidden_sizes=(64, 64), mirror_obs_signs=(1, -1, -1))
    assert rows_per_slice(mirrored, 3) == 4096  # each row runs twice: half the rows
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4, seed=0, backend="native")
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), steps_per_rollout=8)
    calls = []
    original = agent._loss_and_entropy
    agent._loss_and_entropy = lambda part: calls.append(part) or original(part)
    agent.update(agent.collect())
    assert len(calls) == 1 and calls[0].obs.shape[:2] == (8, 4)  # 32 rows: one pass over the whole batch
    long = reinforce.Reinforce(reinforce.make_vec_env("CartPole-v1", num_envs=4096, seed=0, backend="native"),
                               reinforce.CategoricalPolicy(4, 2), steps_per_rollout=64)
    original = long._loss_and_entropy
    long._loss_and_entropy = lambda part: calls.append(part) or original(part)
    long.update(long.collect())
    assert len(calls) == 1 + 2  # 262,144 rows: two slices of 131,072
    long.hot.compiled = True  # (as Config.compile sets it) a compiled loss takes the whole batch: one shape
    long.update(long.collect())
    assert len(calls) == 1 + 2 + 1


def test_a_non_finite_loss_in_slices_raises_before_any_step_and_drops_its_gradients():
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4096, seed=0, backend="native")
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), steps_per_rollout=64)
    agent.learn(1)
    before = [p.detach().clone() for p in agent.policy.parameters()]
    adam = {k: v.clone() for k, v in agent.optimizer.state[next(agent.policy.parameters())].items()}
    calls = []
    original = agent._loss_and_entropy

    def poisoned(part):
        calls.append(part)
        loss, entropy = original(part)
        return (loss * float("nan") if len(calls) == 2 else loss), entropy

    agent._loss_and_entropy = poisoned
    with pytest.raises(FloatingPointError, match="the loss became nan at epoch 1"):
        agent.update(agent.collect())
    assert len(calls) == 2  # 262,144 rows in two slices, the second one poisoned
    assert all(torch.equal(p, q) for p, q in zip(agent.policy.parameters(), before))
    after = agent.optimizer.state[next(agent.policy.parameters())]
    assert all(torch.equal(after[k], v) for k, v in adam.items())
    assert all(p.grad is None for p in agent.policy.parameters())  # nothing left for a later step to apply
