"""Estimator options by hand first (returns, baselines, GAE, normalisation, clipping inside the agent), then
statistics over many batches: unbiasedness against the exact gradient and variance reduction."""
import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

import reinforce
from reinforce.normalization import ObsNormalizer
from reinforce.value import ValueFunction
from reinforce.reduce import leave_one_env_out_mean, normalize
from reinforce.returns import gae
from toy_envs import TinyMDP

N_BATCHES, N_ENVS = 300, 64


def fixed_policy():
    policy = reinforce.CategoricalPolicy(obs_dim=2, n_actions=2)
    with torch.no_grad():
        policy.logits[0].weight.copy_(torch.tensor([[0.3, -0.4], [-0.2, 0.5]]))
        policy.logits[0].bias.copy_(torch.tensor([0.1, -0.1]))
    return policy


def make_agent(policy, **options):
    env = reinforce.make_vec_env("tests/TinyMDP-v0", num_envs=N_ENVS, seed=0, backend="sync")
    return reinforce.Reinforce(env, policy, lr=1e-3, gamma=1.0, steps_per_rollout=TinyMDP.H, value_lr=0.05, **options)


# -- the agent's returns and advantages on the countdown env, by hand --------------------------------
class KnownV(torch.nn.Module):
    """A stub value function of countdown observations [step index, episode index]: V = 1 + 2·step + 10·episode."""

    def forward(self, obs):
        return 1.0 + 2.0 * obs[..., 0] + 10.0 * obs[..., 1]


def known_v(step, episode):
    return 1.0 + 2.0 * step + 10.0 * episode


GAMMA, T_COUNTDOWN = 0.9, 10


def countdown_agent(**options):
    """2 countdown envs (episodes of 3 and 5 steps, alternating) with a 3-step time limit, T = 10, V = KnownV.

    Rows 0-2: episode 0 terminates at its 3rd step (the time limit fires in the same step: a termination);
    rows 3-5: episode 1 is truncated after 3 of its 5 steps; rows 6-8: episode 2 terminates; row 9: the
    first step of episode 3, where the rollout stops. Rewards 1, 2, 3 per episode; both envs alike.
    """
    env = reinforce.make_vec_env("tests/Countdown-v0", num_envs=2, seed=0, backend="sync",
                                 env_kwargs={"max_episode_steps": 3})
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(2, 2), gamma=GAMMA, steps_per_rollout=T_COUNTDOWN,
                                **options)
    agent.value_fn = KnownV()
    return agent


def hand_countdown(batch):
    """The rollout's layout checked, then (G, next V) (T, 2) by hand: G bootstrapped with γ·V(final obs)
    at the truncation and γ·V(s_T) at the end; next V is V of the observation after each step."""
    assert batch.terminated[:, 0].nonzero().flatten().tolist() == [2, 8]
    assert batch.truncated[:, 0].nonzero().flatten().tolist() == [5]
    assert batch.rewards[:, 0].tolist() == [1, 2, 3] * 3 + [1]
    torch.testing.assert_close(batch.last_obs, torch.tensor([[1.0, 3.0]] * 2))  # s_T: step 1 of episode 3
    # V after each step: the *final* observation [3, episode] where an episode ended, else the next row's
    next_v = [known_v(t % 3 + 1, t // 3) for t in range(T_COUNTDOWN)]
    returns, following = [], known_v(1, 3)  # G_T := V(s_T)
    for t in reversed(range(T_COUNTDOWN)):
        if t in (2, 8):  # termination: nothing follows
            following = 0.0
        elif t == 5:  # truncation: the episode would have gone on from its final observation [3, 1]
            following = known_v(3, 1)
        following = float(batch.rewards[t, 0]) + GAMMA * following
        returns.insert(0, following)
    as_tensor = lambda x: torch.tensor(x).unsqueeze(1).expand(T_COUNTDOWN, 2)  # noqa: E731
    return as_tensor(returns), as_tensor(next_v)


def test_value_baseline_bootstraps_truncations_and_the_rollout_end_inside_the_agent():
    agent = countdown_agent(baseline="value")
    batch = agent.collect()
    want, _ = hand_countdown(batch)
    values = KnownV()(batch.obs)
    torch.testing.assert_close(agent.returns(batch), want)
    torch.testing.assert_close(agent.advantages(batch), want - values)
    torch.testing.assert_close(agent.with_targets(batch).value_targets, want)
    # the same through the library's function, given the final-observation and last values
    final_values = torch.where(batch.dones, KnownV()(batch.final_obs), torch.zeros(()))
    library = reinforce.bootstrapped_returns(batch.rewards, batch.terminated, batch.truncated, GAMMA, final_values,
                                             KnownV()(batch.last_obs))
    torch.testing.assert_close(library, want)
    # without a value function the return is cut at the truncation and at the rollout's end (the article)
    plain = reinforce.Reinforce(agent.env, agent.policy, gamma=GAMMA, steps_per_rollout=T_COUNTDOWN)
    cut = reinforce.discounted_returns(batch.rewards, batch.dones, GAMMA)
    torch.testing.assert_close(plain.returns(batch), cut)
    assert (cut[5] < want[5]).all() and (cut[9] < want[9]).all()


@pytest.mark.parametrize("lam", [0.0, 0.8, 1.0])
def test_gae_inside_the_agent_uses_final_observation_values_and_the_last_value(lam):
    agent = countdown_agent(baseline="gae", gae_lambda=lam)
    batch = agent.collect()
    returns, next_v = hand_countdown(batch)
    values = KnownV()(batch.obs)
    advantages, targets = agent.with_targets(batch).weights, agent.with_targets(batch).value_targets
    want = gae(batch.rewards, values, next_v, batch.terminated, batch.truncated, GAMMA, lam)[0]
    torch.testing.assert_close(advantages, want)
    torch.testing.assert_close(targets, want + values)
    if lam == 0.0:  # the TD error, by hand: a termination drops V(next), a truncation keeps it
        torch.testing.assert_close(advantages, batch.rewards + GAMMA * next_v * ~batch.terminated - values)
    if lam == 1.0:  # the bootstrapped return minus V
        torch.testing.assert_close(advantages, returns - values)


@pytest.mark.parametrize("baseline", ["value", "gae"])
@pytest.mark.parametrize("known", [True, False])
def test_final_observation_values_at_the_ended_rows_alone_equal_the_selection(baseline, known):
    """On CPU V(final obs) is evaluated at the rows that ended (nonzero); a graphed epoch (and CUDA) evaluates
    every row and selects: the same targets, to float rounding (a matrix product may round a row differently
    in a batch of another size)."""
    agent = countdown_agent(baseline=baseline)
    if not known:  # the agent's own tanh MLP, not the exact KnownV
        agent.value_fn = ValueFunction(2, (64, 64))
    batch = agent.collect()
    assert not agent.select_final_values and batch.dones.any()  # CPU's default; episodes do end here
    rows = agent.with_targets(batch)
    agent.select_final_values = True
    selected = agent.with_targets(batch)
    torch.testing.assert_close(rows.weights, selected.weights)
    torch.testing.assert_close(rows.value_targets, selected.value_targets)
    if known:  # row by row arithmetic: bit for bit
        assert torch.equal(rows.weights, selected.weights)


def test_total_return_form_restarts_at_every_episode_in_the_rollout():
    """Countdown episodes of 3, 5, 3 steps and a cut one: each row weighs G_0 of its own episode."""
    env = reinforce.make_vec_env("tests/Countdown-v0", num_envs=2, seed=0, backend="sync")
    policy = reinforce.CategoricalPolicy(2, 2)
    agent = reinforce.Reinforce(env, policy, gamma=0.5, steps_per_rollout=12, returns="total")
    valued = reinforce.Reinforce(env, policy, gamma=0.5, steps_per_rollout=12, returns="total", baseline="value")
    valued.value_fn = KnownV()
    batch = valued.collect()  # with the final observations a value baseline needs
    assert batch.terminated[:, 0].nonzero().flatten().tolist() == [2, 7, 10]
    g3, g5 = 1 + 0.5 * 2 + 0.25 * 3, sum(0.5**k * (k + 1) for k in range(5))
    want = torch.tensor([g3] * 3 + [g5] * 5 + [g3] * 3 + [1.0]).unsqueeze(1).expand(12, 2)
    torch.testing.assert_close(agent.advantages(batch), want)
    # with a value baseline: G_0 of each episode (the last one bootstrapped with γ·V(s_T)) minus V(s_t)
    last = 1.0 + 0.5 * known_v(1, 3)
    want = torch.tensor([g3] * 3 + [g5] * 5 + [g3] * 3 + [last]).unsqueeze(1) - KnownV()(batch.obs)
    torch.testing.assert_close(valued.advantages(batch), want)


# -- the mean baseline and normalisation, by hand ------------------------------------------------------
def test_leave_one_env_out_mean_by_hand():
    weights = torch.tensor([[1.0, 2.0, 3.0], [5.0, 6.0, 7.0]])  # env sums 6, 8, 10; 24 in all
    torch.testing.assert_close(leave_one_env_out_mean(weights), torch.tensor([[18 / 4, 16 / 4, 14 / 4]]))
    # with 2 envs each env's baseline is the other env's mean; the batch mean (8.5) would differ from both
    two = torch.tensor([[1.0, 10.0], [3.0, 20.0]])
    torch.testing.assert_close(leave_one_env_out_mean(two), torch.tensor([[15.0, 2.0]]))
    assert two.mean().item() == 8.5
    # one env: no other env, so its own mean
    torch.testing.assert_close(leave_one_env_out_mean(two[:, :1]), torch.tensor([[2.0]]))


def test_mean_baseline_in_the_agent_subtracts_the_other_envs_mean():
    env = reinforce.make_vec_env("CartPole-v1", num_envs=3, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), steps_per_rollout=30, baseline="mean")
    batch = agent.collect()
    returns = agent.returns(batch)
    others = torch.stack([returns[:, [j for j in range(3) if j != e]].mean() for e in range(3)])
    assert others.max() - others.min() > 0.1  # the envs differ, so a batch mean would not do
    torch.testing.assert_close(agent.advantages(batch), returns - others)


def test_normalize_uses_the_batch_mean_and_unbiased_std():
    w = torch.tensor([[1.0, 2.0], [4.0, 9.0]])
    torch.testing.assert_close(normalize(w), (w - w.mean()) / w.std())  # torch's std is the unbiased one
    torch.testing.assert_close(normalize(torch.tensor([[3.0]])), torch.tensor([[3.0]]))  # one weight: as it is
    env = reinforce.make_vec_env("CartPole-v1", num_envs=3, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), steps_per_rollout=30, normalize_advantages=True)
    batch = agent.collect()
    returns = agent.returns(batch)
    torch.testing.assert_close(agent.advantages(batch), (returns - returns.mean()) / returns.std())


def test_update_weighs_with_v_before_its_fit_then_fits_v_to_those_targets():
    """The policy loss of `update` uses V as it was before the batch (so the baseline never saw the
    batch's actions); then V takes `value_iters` Adam steps toward the targets made with that V."""
    agent = make_agent(fixed_policy(), baseline="value", value_iters=5)
    agent.update(agent.collect())  # a first fit, so that V is not the near-zero initial network
    batch = agent.collect()
    want_loss = agent.loss(batch).item()
    targets = agent.with_targets(batch).value_targets
    value_fn = copy.deepcopy(agent.value_fn)
    adam = torch.optim.Adam(value_fn.parameters(), lr=0.05)
    adam.load_state_dict(copy.deepcopy(agent.value_optimizer.state_dict()))  # its moments are updated in place
    for _ in range(5):
        adam.zero_grad()
        (value_fn(batch.obs.reshape(-1, 2)) - targets.reshape(-1)).pow(2).mean().backward()
        adam.step()
    before_step = copy.deepcopy(agent.policy.state_dict())
    stats = agent.update(batch)
    assert stats["train/loss"] == pytest.approx(want_loss, rel=1e-6)
    for got, want in zip(agent.value_fn.parameters(), value_fn.parameters()):
        torch.testing.assert_close(got, want)
    agent.policy.load_state_dict(before_step)  # the same policy with V after its fit: another loss
    assert abs(agent.loss(batch).item() - want_loss) > 1e-3 * abs(want_loss), "test has no power: the fit barely moves V"


def gae_reference(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Direct sum A_t = Σ_k (γλ)^k δ_{t+k} over the rest of the episode segment."""
    T, E = rewards.shape
    delta = rewards + gamma * next_values * (~terminated) - values
    out = torch.zeros_like(rewards)
    for e in range(E):
        for t in range(T):
            total, k = 0.0, t
            while True:
                total += (gamma * lam) ** (k - t) * delta[k, e]
                if terminated[k, e] or truncated[k, e] or k == T - 1:
                    break
                k += 1
            out[t, e] = total
    return out


@pytest.fixture
def segment():
    g = torch.Generator().manual_seed(5)
    T, E = 30, 5
    rewards = torch.randn(T, E, generator=g, dtype=torch.float64)
    values = torch.randn(T, E, generator=g, dtype=torch.float64)
    next_values = torch.randn(T, E, generator=g, dtype=torch.float64)
    terminated = torch.rand(T, E, generator=g) < 0.1
    truncated = (torch.rand(T, E, generator=g) < 0.1) & ~terminated
    return rewards, values, next_values, terminated, truncated


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95, 1.0])
def test_gae_matches_direct_sum(segment, lam):
    got = gae(*segment, 0.9, lam)[0]
    torch.testing.assert_close(got, gae_reference(*segment, 0.9, lam))


def test_gae_special_cases(segment):
    rewards, values, next_values, terminated, truncated = segment
    # inside an episode the next value is V(s_{t+1}) = values[t+1]; only at cuts does it differ
    ended = terminated | truncated
    next_values = next_values.clone()
    next_values[:-1] = torch.where(ended[:-1], next_values[:-1], values[1:])
    segment = (rewards, values, next_values, terminated, truncated)
    # λ = 0: the TD error; a termination drops the next value, a truncation keeps it
    td = rewards + 0.9 * next_values * (~terminated) - values
    torch.testing.assert_close(gae(*segment, 0.9, 0.0)[0], td)
    # λ = 1: the bootstrapped return minus V
    from reinforce.returns import bootstrapped_returns

    # next_values at a truncation row is V(final obs); at the last row V(s_T)
    ret = bootstrapped_returns(rewards, terminated, truncated, 0.9, next_values, next_values[-1])
    torch.testing.assert_close(gae(*segment, 0.9, 1.0)[0], ret - values)


def test_obs_normalizer_matches_numpy_and_freezes_between_updates():
    g = torch.Generator().manual_seed(0)
    chunks = [torch.randn(n, 3, generator=g) * torch.tensor([1.0, 5.0, 0.1]) + 3 for n in (10, 1000, 1, 257)]
    norm = ObsNormalizer(3)
    for c in chunks:
        norm.update(c)
    data = torch.cat(chunks).numpy().astype(np.float64)
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-10)
    np.testing.assert_allclose(norm.var.numpy(), data.var(0), rtol=1e-10)
    x = chunks[1][:4]
    before = norm(x)
    torch.testing.assert_close(norm(x), before)  # using it does not change it
    expected = (x.double() - data.mean(0)) / np.sqrt(data.var(0) + 1e-8)
    torch.testing.assert_close(before, expected.float())


def _normalised_by_formula(norm, x):
    """The transform from the buffers, every call (what a GPU runs): the CPU path's cache must equal it."""
    scale = (norm.var + norm.eps).rsqrt().to(x.dtype)
    normalized = ((x - norm.mean.to(x.dtype)) * scale).clamp(-norm.clip, norm.clip)
    return torch.where(norm.count > 0, normalized, x)


def test_obs_normalizer_cpu_cache_follows_every_change_of_its_buffers():
    g = torch.Generator().manual_seed(1)
    norm = ObsNormalizer(3, clip=2.0)
    x = torch.randn(64, 3, generator=g) * 4 + 1
    assert torch.equal(norm(x), x)  # before any update: the identity, unclipped
    norm.update(torch.randn(100, 3, generator=g))
    first = norm(x)
    assert torch.equal(first, _normalised_by_formula(norm, x)) and not torch.equal(first, x)
    shift, scale, low, high = norm._affine(x.dtype)  # the uncached transform (GPUs, tracing, compile): the same
    assert torch.equal(x.sub(shift).mul_(scale).clamp_(low, high), first)
    assert first.abs().max() == 2.0  # clipped
    norm.update(torch.randn(100, 3, generator=g) * 3 + 2)  # an update: the cache must be made again
    assert torch.equal(norm(x), _normalised_by_formula(norm, x)) and not torch.equal(norm(x), first)
    other = ObsNormalizer(3, clip=2.0)
    other.load_state_dict(norm.state_dict())
    other(x)  # cached for norm's statistics ...
    other.load_state_dict(ObsNormalizer(3, clip=2.0).state_dict())  # ... then loaded back to none seen
    assert torch.equal(other(x), x)
    assert torch.equal(norm(x.double()), _normalised_by_formula(norm, x.double()))  # per dtype


def test_obs_normalizer_cache_made_in_inference_mode_serves_autograd_and_sees_swapped_buffers():
    norm = ObsNormalizer(3)
    norm.update(torch.randn(50, 3) * 2 + 1)
    with torch.inference_mode():  # the rollout asks first
        norm(torch.randn(4, 3))
    x = torch.randn(4, 3, requires_grad=True)
    norm(x).sum().backward()  # the cached scale is saved for backward: it must not be an inference tensor
    torch.testing.assert_close(x.grad, ((norm.var + norm.eps).rsqrt().float()).expand(4, 3))
    norm.count = torch.zeros((), dtype=torch.float64)  # a new object, not an in-place change
    assert torch.equal(norm(x.detach()), x.detach())
    norm.count = torch.tensor(50.0, dtype=torch.float64)
    norm.clip = 0.1  # clip and eps are part of the transform too
    assert norm(x.detach()).abs().max() <= 0.1


def test_observation_normalisation_is_saved_with_policy_and_only_updated_by_update():
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4, seed=0, backend="sync")
    policy = reinforce.make_policy(env.single_observation_space, env.single_action_space, normalize_observations=True)
    agent = reinforce.Reinforce(env, policy, lr=0.01, steps_per_rollout=20)
    batch = agent.collect()
    assert policy.obs_normalizer.count == 0  # collecting does not move the statistics
    agent.update(batch)
    assert policy.obs_normalizer.count == 80
    state = policy.state_dict()
    assert "obs_normalizer.mean" in state and "obs_normalizer.var" in state
    fresh = reinforce.make_policy(env.single_observation_space, env.single_action_space, normalize_observations=True)
    fresh.load_state_dict(state)
    obs = batch.obs[0]
    torch.testing.assert_close(fresh.pi(obs).logits, policy.pi(obs).logits)


def test_squashed_gaussian_log_prob_has_change_of_variables():
    low, high = torch.tensor([-2.0]), torch.tensor([4.0])
    policy = reinforce.DiagonalGaussianPolicy(3, 1, hidden_sizes=(), squash=True, action_low=low, action_high=high)
    obs = torch.randn(1000, 3)
    a = policy.sample(obs)
    assert (a > low).all() and (a < high).all()
    mean, std = policy.mu(obs).detach(), policy.log_std.exp().detach()
    u = torch.atanh(((a - 1.0) / 3.0).double()).float()  # center 1, half range 3
    want = torch.distributions.Normal(mean, std).log_prob(u) - torch.log(3.0 * (1 - torch.tanh(u) ** 2))
    torch.testing.assert_close(policy.pi(obs).log_prob(a), want.sum(-1), atol=2e-3, rtol=1e-4)


def test_linear_lr_schedule_and_grad_clipping():
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4, seed=0, backend="sync")
    agent = reinforce.Reinforce(
        env, reinforce.CategoricalPolicy(4, 2), lr=0.1, steps_per_rollout=20, lr_schedule="linear", max_grad_norm=1e-3
    )
    history = agent.learn(4)
    assert [m["train/lr"] for m in history] == pytest.approx([0.1, 0.075, 0.05, 0.025])
    # a second learn() past the schedule's end stretches it to its own end (6 epochs), never training at lr 0
    assert [m["train/lr"] for m in agent.learn(2)] == pytest.approx([0.1 * (1 - 4 / 6), 0.1 * (1 - 5 / 6)])
    # grad_norm is the norm before clipping; the step used the clipped gradient, left in .grad
    assert all(m["train/grad_norm"] > 1e-3 for m in history)
    clipped = torch.cat([p.grad.reshape(-1) for p in agent.policy.parameters()]).norm()
    assert clipped.item() == pytest.approx(1e-3, rel=1e-4)


def test_grad_clipping_steps_adam_on_the_clipped_gradient():
    """Three updates with max_grad_norm equal a reference that clips by hand (clip_grad_norm_) and steps
    an identical Adam on the same batches. Adam's first step is about lr·sign(g) whatever the scale,
    so a single step could not tell; the later ones do: the unclipped reference ends far away."""
    max_norm, lr = 0.1, 0.01
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4, seed=0, backend="sync")
    policy = reinforce.CategoricalPolicy(4, 2)
    agent = reinforce.Reinforce(env, policy, lr=lr, steps_per_rollout=20, max_grad_norm=max_norm)
    references = {}
    for clip in (True, False):
        module = copy.deepcopy(policy)
        # a second agent on the same env only to compute the loss of `module` on a batch; it never collects
        references[clip] = (module, reinforce.Reinforce(env, module, steps_per_rollout=20),
                            torch.optim.Adam(module.parameters(), lr=lr))
    for _ in range(3):
        batch = agent.collect()
        norms = {}
        for clip, (module, loss_agent, adam) in references.items():
            adam.zero_grad()
            loss_agent.loss(batch).backward()
            norms[clip] = torch.nn.utils.clip_grad_norm_(module.parameters(), max_norm if clip else float("inf"))
            adam.step()
        stats = agent.update(batch)
        assert norms[True] > 2 * max_norm  # clipping is active in every update
        assert stats["train/grad_norm"] == pytest.approx(norms[True].item(), rel=1e-5)
    got, want, unclipped = (torch.cat([p.detach().reshape(-1) for p in m.parameters()])
                            for m in (policy, references[True][0], references[False][0]))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert (unclipped - want).abs().max() > 100 * 1e-6, "test has no power: clipping does not change the steps"


def test_entropy_bonus_lowers_the_loss_by_coef_times_entropy():
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4, seed=0, backend="sync")
    policy = reinforce.CategoricalPolicy(4, 2)
    plain = reinforce.Reinforce(env, policy, steps_per_rollout=20)
    bonus = reinforce.Reinforce(env, policy, steps_per_rollout=20, entropy_coef=0.5)
    batch = plain.collect()
    entropy = policy.pi(batch.obs.reshape(-1, 4)).entropy().mean()
    torch.testing.assert_close(bonus.loss(batch), plain.loss(batch) - 0.5 * entropy)


@pytest.mark.parametrize(
    "options, word",
    [({"baseline": "critic"}, "baseline"), ({"returns": "g0"}, "returns"), ({"gae_lambda": 1.5}, "gae_lambda"),
     ({"lr_schedule": "cosine"}, "lr_schedule"), ({"baseline": "gae", "returns": "total"}, "gae")],
)
def test_invalid_options_are_named(options, word):
    env = reinforce.make_vec_env("CartPole-v1", num_envs=1, seed=0, backend="sync")
    with pytest.raises(ValueError, match=word):
        reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), **options)


# -- statistics over many batches: unbiasedness against the exact gradient, variance -----------------
@pytest.fixture(scope="module")
def batches():
    """One set of rollouts from the fixed policy, shared by every estimator (the policy never steps)."""
    torch.manual_seed(0)
    agent = make_agent(fixed_policy(), baseline="value")  # keeps final observations for the value estimators
    return [agent.collect() for _ in range(N_BATCHES)]


@pytest.fixture(scope="module")
def exact_gradient():
    policy = fixed_policy()
    grads = torch.autograd.grad(TinyMDP.exact_objective(policy), list(policy.parameters()))
    return -torch.cat([g.reshape(-1) for g in grads]).double() / TinyMDP.H


_cache: dict = {}


def gradient_samples(batches, **options):
    """(N_BATCHES, n_params) loss gradients, one per batch; cached per estimator across tests."""
    key = tuple(sorted(options.items()))
    if key not in _cache:
        _cache[key] = _gradient_samples(batches, **options)
    return _cache[key]


def _gradient_samples(batches, **options):
    torch.manual_seed(1)
    policy = fixed_policy()
    agent = make_agent(policy, **options)
    samples = []
    for batch in batches:
        policy.zero_grad()
        agent.loss(batch).backward()  # V as it was *before* this batch's fit
        samples.append(torch.cat([p.grad.reshape(-1) for p in policy.parameters()]).clone())
        if agent.value_fn is not None:
            agent.fit_value(batch)
    return torch.stack(samples).double()


ESTIMATORS = {
    "reward_to_go": {},
    "total": {"returns": "total"},
    "mean": {"baseline": "mean"},
    "value": {"baseline": "value"},
    "gae_lambda_1": {"baseline": "gae", "gae_lambda": 1.0},
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_estimator_is_unbiased(name, batches, exact_gradient):
    samples = gradient_samples(batches, **ESTIMATORS[name])
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    assert (exact_gradient.abs() > 4 * se).any(), "no power: exact gradient within noise of zero"
    z = (mean - exact_gradient).abs() / se
    assert (z < 4).all(), f"{name}: z-scores {z.tolist()}"


@pytest.mark.parametrize("name", ["mean", "value"])
def test_baseline_reduces_variance(name, batches):
    # skip the first batches, where V is still being fitted from scratch
    plain = gradient_samples(batches)[50:]
    with_baseline = gradient_samples(batches, **ESTIMATORS[name])[50:]
    ratio = with_baseline.var(0).sum() / plain.var(0).sum()
    assert ratio < 0.7, f"total variance ratio {ratio:.3f}"


def test_two_env_mean_baseline_is_unbiased_where_the_batch_mean_is_not(batches, exact_gradient):
    """With 2 envs the batch mean holds half of the env's own return: its gradient is biased (about
    halved), the leave-one-env-out mean's is not. Each 64-env batch is taken as 32 independent 2-env
    batches; the loss over all rows is the mean of their 32 losses, so it has the same expectation."""
    policy = fixed_policy()
    agent = make_agent(policy)
    samples = {"leave_one_out": [], "batch_mean": []}
    for batch in batches:
        returns = agent.returns(batch)
        pairs = returns.split(2, dim=1)
        baselines = {
            "leave_one_out": torch.cat([leave_one_env_out_mean(p) for p in pairs], dim=1),
            "batch_mean": torch.cat([p.mean().expand(1, 2) for p in pairs], dim=1),
        }
        for name, baseline in baselines.items():
            policy.zero_grad()
            agent.loss(dataclasses.replace(batch, weights=returns - baseline)).backward()
            samples[name].append(torch.cat([p.grad.reshape(-1) for p in policy.parameters()]).clone())
    z = {}
    for name, rows in samples.items():
        rows = torch.stack(rows).double()
        z[name] = (rows.mean(0) - exact_gradient).abs() / (rows.std(0) / math.sqrt(len(rows)))
    assert (z["leave_one_out"] < 4).all(), z
    assert (z["batch_mean"] > 4).any(), z  # the bias is large enough to show
