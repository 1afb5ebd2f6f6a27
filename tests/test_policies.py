"""Policies: log-probs against hand-computed values; the action space picks the distribution."""
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from reinforce.config import Config
from reinforce.distributions import CategoricalDist
from reinforce.policies import CategoricalPolicy, DiagonalGaussianPolicy, make_policy


def test_categorical_log_prob_is_log_softmax_of_linear_logits():
    policy = CategoricalPolicy(obs_dim=3, n_actions=2)
    layer = policy.logits[0]
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]]))
        layer.bias.copy_(torch.tensor([0.1, -0.2]))
    obs = torch.tensor([[1.0, 2.0, 3.0]])
    z0, z1 = 1 - 3 + 0.1, 0.5 + 4 - 0.2  # -1.9, 4.3
    want = z1 - math.log(math.exp(z0) + math.exp(z1))
    assert policy.pi(obs).log_prob(torch.tensor([1])).item() == pytest.approx(want, abs=1e-6)
    assert len(list(policy.parameters())) == 2  # linear: one weight, one bias


def test_gaussian_log_prob_is_sum_of_independent_normals():
    policy = DiagonalGaussianPolicy(obs_dim=4, act_dim=3, hidden_sizes=(8,), log_std_init=0.3)
    with torch.no_grad():
        policy.log_std.copy_(torch.tensor([0.3, -0.7, 1.1]))
    obs = torch.randn(5, 4)
    action = torch.randn(5, 3)
    dist = policy.pi(obs)
    mean = policy.mu(obs).detach()
    std = policy.log_std.exp().detach()
    per_dim = -((action - mean) ** 2) / (2 * std**2) - torch.log(std) - 0.5 * math.log(2 * math.pi)
    torch.testing.assert_close(dist.log_prob(action), per_dim.sum(-1))
    assert dist.log_prob(action).shape == (5,)
    assert dist.sample().shape == (5, 3)


def test_gaussian_default_is_article_mlp():
    policy = make_policy(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Box(-1, 1, (1,)))
    assert isinstance(policy, DiagonalGaussianPolicy)
    shapes = [tuple(m.weight.shape) for m in policy.mu if isinstance(m, torch.nn.Linear)]
    assert shapes == [(64, 5), (64, 64), (1, 64)]
    assert any(isinstance(m, torch.nn.ReLU) for m in policy.mu)


def test_make_policy_picks_categorical_for_discrete():
    policy = make_policy(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3))
    assert isinstance(policy, CategoricalPolicy) and policy.n_actions == 3


@pytest.mark.parametrize(
    "obs_space, act_space, word",
    [
        (gym.spaces.Text(4), gym.spaces.Discrete(2), "observation"),
        (gym.spaces.Box(-1, 1, (4,)), gym.spaces.MultiDiscrete([2, 2], start=[1, 0]), "action"),
        (gym.spaces.Box(-1, 1, (4,)), gym.spaces.Tuple([gym.spaces.Discrete(2)]), "action"),
    ],
)
def test_unsupported_spaces_are_named(obs_space, act_space, word):
    with pytest.raises(TypeError, match=f"unsupported {word} space.*supported"):
        make_policy(obs_space, act_space)


def test_deterministic_act_takes_mode():
    policy = DiagonalGaussianPolicy(obs_dim=2, act_dim=1, hidden_sizes=())
    obs = torch.randn(4, 2)
    torch.testing.assert_close(policy.act(obs, deterministic=True), policy.mu(obs).detach())
    cat = CategoricalPolicy(obs_dim=2, n_actions=3)
    assert torch.equal(cat.act(obs, deterministic=True), cat.logits(obs).argmax(-1))


@pytest.mark.parametrize("n_actions", [2, 3, 5])
def test_fast_categorical_sampler_follows_the_softmax(n_actions):
    """Frequencies of `sample` match π within 4 standard errors of a binomial proportion."""
    torch.manual_seed(0)
    policy = CategoricalPolicy(obs_dim=2, n_actions=n_actions)
    obs = torch.tensor([[0.7, -1.3]]).expand(200_000, 2)
    with torch.no_grad():
        probs = policy.pi(obs[:1]).probs[0]
        counts = torch.bincount(policy.sample(obs), minlength=n_actions).double()
    freq = counts / counts.sum()
    se = (probs * (1 - probs) / counts.sum()).sqrt()
    assert ((freq - probs).abs() < 4 * se).all(), (freq, probs)


def test_fast_gaussian_sampler_has_policy_mean_and_std():
    torch.manual_seed(0)
    policy = DiagonalGaussianPolicy(obs_dim=2, act_dim=2, hidden_sizes=(), log_std_init=-0.5)
    obs = torch.tensor([[0.3, 0.1]]).expand(100_000, 2)
    with torch.no_grad():
        a = policy.sample(obs)
        mean, std = policy.mu(obs[:1])[0], policy.log_std.exp()
    n = a.shape[0]
    assert ((a.mean(0) - mean).abs() < 4 * std / n**0.5).all()
    assert ((a.std(0) - std).abs() < 4 * std / (2 * n) ** 0.5).all()


def test_two_action_fast_path_equals_generic_categorical():
    policy = CategoricalPolicy(obs_dim=3, n_actions=2)
    obs = torch.randn(500, 3) * 5
    fast = policy.pi(obs)
    generic = torch.distributions.Categorical(logits=policy.logits(obs))
    actions = torch.randint(0, 2, (500,))
    torch.testing.assert_close(fast.log_prob(actions), generic.log_prob(actions))
    torch.testing.assert_close(fast.entropy(), generic.entropy())


@pytest.mark.parametrize("hidden, mirror", [((), ()), ((8,), ()), ((8,), (-1, 1, -1)), ((), (1, -1, -1))])
def test_a_two_action_policy_reads_only_the_logit_difference_and_matches_the_full_logits(hidden, mirror):
    """pi() of two actions takes z = x·(w1 - w0) + (b1 - b0) (one matrix-vector product) instead of both logits:
    the same log-probs, entropy, probabilities, mode and gradients as torch's Categorical on the logits the MLP
    gives, for (N, D) and (T, E, D) batches, an MLP, and a mirror (where the image swaps the two logits)."""
    torch.manual_seed(0)
    policy = CategoricalPolicy(3, 2, hidden_sizes=hidden, mirror_obs_signs=mirror)
    with torch.no_grad():
        for p in policy.parameters():
            p.normal_()
    assert policy._difference_head() is not None
    for obs in (torch.randn(300, 3) * 3, torch.randn(4, 75, 3)):
        actions = torch.randint(0, 2, obs.shape[:-1])
        dist = policy.pi(obs)
        assert dist._logits is None  # built from z: the (N, 2) logits are never made for the loss
        if mirror:
            image = obs * torch.tensor(mirror, dtype=torch.float32)
            logits = (policy.logits(obs) + policy.logits(image).flip(-1)) / 2
        else:
            logits = policy.logits(obs)
        torch_dist = torch.distributions.Categorical(logits=logits)
        torch.testing.assert_close(dist.log_prob(actions), torch_dist.log_prob(actions))
        torch.testing.assert_close(dist.entropy(), torch_dist.entropy())
        torch.testing.assert_close(dist.probs, torch_dist.probs)
        torch.testing.assert_close(dist.logits, torch_dist.logits)
        assert dist.batch_shape == obs.shape[:-1]
        assert torch.equal(dist.mode, logits.argmax(-1))
        weights = torch.randn(obs.shape[:-1])
        ours = torch.autograd.grad((dist.log_prob(actions) * weights).mean(), list(policy.parameters()))
        want = torch.autograd.grad((torch_dist.log_prob(actions) * weights).mean(), list(policy.parameters()))
        for got, expected in zip(ours, want):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_hooks_a_custom_last_layer_few_rows_or_three_actions_keep_the_full_logits():
    from reinforce.policy_base import Linear

    for hooked in ("last layer", "head"):
        two = CategoricalPolicy(3, 2, hidden_sizes=(8,))
        seen = []
        module = two.logits[-1] if hooked == "last layer" else two.logits
        module.register_forward_hook(lambda module, args, out: seen.append(out.shape))
        assert two._difference_head() is None
        two.pi(torch.randn(500, 3))
        assert seen == [torch.Size([500, 2])]  # the hook ran on the whole output

    class Doubled(Linear):  # a last layer with a forward of its own
        def forward(self, x):
            return 2 * super().forward(x)

    custom = CategoricalPolicy(3, 2)
    custom.logits[0] = Doubled(3, 2)
    obs = torch.randn(500, 3)
    assert custom._difference_head() is None
    torch.testing.assert_close(custom.pi(obs).logits, torch.log_softmax(custom.logits(obs), -1))
    few = CategoricalPolicy(3, 2)
    assert few.pi(torch.randn(255, 3))._logits.shape == (255, 2) and few.pi(torch.randn(256, 3))._logits is None
    three = CategoricalPolicy(3, 3)
    assert three._difference_head() is None and three.pi(torch.randn(500, 3))._logits.shape == (500, 3)


def test_a_distribution_from_z_keeps_the_grad_mode_of_each_read_and_samples_any_shape():
    z = torch.randn(6, requires_grad=True)
    dist = CategoricalDist.of_difference(z)
    with torch.no_grad():
        assert dist.probs.grad_fn is None
    assert dist.probs.grad_fn is not None  # not a copy cached under no_grad
    assert dist.sample(torch.Size([3])).shape == (3, 6) and dist.batch_shape == (6,)
    assert dist.support.upper_bound == 1
    torch.testing.assert_close(dist.mode, (z > 0).long())


def test_squashed_deterministic_act_is_squashed_mean():
    low, high = [-2.0, 0.0], [4.0, 1.0]
    policy = DiagonalGaussianPolicy(2, 2, hidden_sizes=(), squash=True, action_low=low, action_high=high)
    obs = torch.randn(4, 2)
    want = torch.tensor([1.0, 0.5]) + torch.tensor([3.0, 0.5]) * torch.tanh(policy.mu(obs).detach())
    torch.testing.assert_close(policy.act(obs, deterministic=True), want)


def test_pi_returns_a_torch_distribution_owning_its_operations():
    cat, gauss = CategoricalPolicy(obs_dim=2, n_actions=3), DiagonalGaussianPolicy(obs_dim=2, act_dim=2)
    obs = torch.randn(6, 2)
    for policy in (cat, gauss):
        dist = policy.pi(obs)
        assert isinstance(dist, torch.distributions.Distribution)
        assert dist.entropy().shape == (6,) and dist.log_prob(dist.sample()).shape == (6,)
        assert policy.pi(obs) is not dist  # built fresh per call


@pytest.mark.parametrize("squash", [False, True])
def test_state_dict_keys_are_what_checkpoints_expect(squash):
    cat = CategoricalPolicy(obs_dim=3, n_actions=2, hidden_sizes=(4,))
    cat.enable_obs_normalization(3)
    assert {k.split(".")[0] for k in cat.state_dict()} == {"logits", "obs_normalizer"}
    assert {"logits.0.weight", "logits.0.bias", "logits.2.weight", "logits.2.bias"} <= set(cat.state_dict())
    gauss = DiagonalGaussianPolicy(obs_dim=3, act_dim=2, hidden_sizes=(), squash=squash)
    bounds = {"action_center", "action_half_range"} if squash else set()
    assert set(gauss.state_dict()) == {"mu.0.weight", "mu.0.bias", "log_std"} | bounds


@pytest.mark.parametrize("act_space", [gym.spaces.Discrete(3), gym.spaces.Box(-1, 1, (2,)), gym.spaces.MultiBinary(4)])
def test_head_init_gain_zero_makes_the_untrained_policy_state_independent(act_space):
    obs_space = gym.spaces.Box(-5, 5, (4,))
    torch.manual_seed(0)
    obs = torch.randn(16, 4) * 3
    default = make_policy(obs_space, act_space, hidden_sizes=(8,))
    flat = make_policy(obs_space, act_space, hidden_sizes=(8,), head_init_gain=0.0)
    small = make_policy(obs_space, act_space, hidden_sizes=(8,), head_init_gain=0.01)

    def params(policy):  # the head's raw output per observation: logits or the Gaussian mean
        net = policy.mu if hasattr(policy, "mu") else policy.logits
        return net(obs).detach()

    assert torch.equal(params(flat), torch.zeros_like(params(flat)))
    assert params(small).abs().max() < 0.05 < params(default).abs().max()
    head = [m for m in small.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert torch.equal(head.bias, torch.zeros_like(head.bias))


def test_head_init_gain_is_validated():
    with pytest.raises(ValueError, match="head_init_gain"):
        Config(env_id="CartPole-v1", head_init_gain=-1.0)
    with pytest.raises(ValueError, match="head_init_gain"):
        Config(env_id="CartPole-v1", head_init_gain=float("nan"))


def test_state_dependent_std_starts_flat_then_learns_per_state_without_touching_the_mean():
    torch.manual_seed(0)
    policy = DiagonalGaussianPolicy(3, 2, hidden_sizes=(8,), log_std_init=-1.0, state_dependent_std=True)
    obs = torch.randn(6, 3)
    torch.testing.assert_close(policy.pi(obs).stddev, torch.full((6, 2), math.exp(-1.0)))  # zero head at the start
    # σ's head reads the hidden features detached: a loss on σ alone moves no weight of the mean
    policy.pi(obs).log_prob(torch.randn(6, 2)).sum().backward()
    assert policy.mu[0].weight.grad.abs().sum() > 0  # the log-prob reaches the mean's torso through μ ...
    policy.zero_grad(set_to_none=True)
    policy.pi(obs).entropy().sum().backward()  # ... but the entropy (a function of σ only) does not
    assert all(p.grad is None for n, p in policy.named_parameters() if n.startswith("mu."))
    assert policy.std_head.weight.grad.abs().sum() > 0
    with torch.no_grad():  # a non-zero head: log σ differs per state, by the head's output
        policy.std_head.weight.normal_()
    mean, log_std = policy.mean_and_log_std(obs)
    assert log_std.shape == (6, 2) and log_std[:, 0].std() > 0.1
    torch.testing.assert_close(policy.pi(obs).log_prob(mean), (-log_std - 0.5 * math.log(2 * math.pi)).sum(-1))
    # the output-layer init (head_init_gain) re-initialises the mean's last Linear, never σ's head
    before = policy.std_head.weight.clone()
    policy.init_output_layer(0.01)
    assert torch.equal(policy.std_head.weight, before) and policy.mu[-1].weight.abs().max() < 0.05
    with pytest.raises(ValueError, match="state_dependent_std applies to Box actions"):
        make_policy(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3), state_dependent_std=True)
    assert Config(state_dependent_std=True).state_dependent_std
    # the head's part is clamped, the vector is not: log σ₀ outside the head's range still learns
    wide = DiagonalGaussianPolicy(3, 2, hidden_sizes=(8,), log_std_init=2.5, state_dependent_std=True)
    with torch.no_grad():
        wide.std_head.bias.fill_(10.0)  # far past the clamp
    torch.testing.assert_close(wide.pi(obs).stddev, torch.full((6, 2), math.exp(2.5 + 4.0)))
    wide.pi(obs).entropy().sum().backward()
    assert wide.log_std.grad.abs().min() > 0


def test_state_dependent_std_survives_save_and_load(tmp_path):
    import reinforce

    env = reinforce.make_vec_env("Pendulum-v1", num_envs=2, seed=0)
    policy = make_policy(env.single_observation_space, env.single_action_space, hidden_sizes=(8,),
                         state_dependent_std=True)
    with torch.no_grad():
        policy.std_head.weight.normal_()
    agent = reinforce.Reinforce(env, policy, steps_per_rollout=4)
    again = reinforce.load(agent.save(tmp_path / "a.pt"))
    assert again.describe().state_dependent_std
    obs = torch.randn(5, 3)
    for got, want in zip(again.policy.mean_and_log_std(obs), policy.mean_and_log_std(obs)):
        torch.testing.assert_close(got, want)


def test_mlp_forward_as_functions_equals_the_modules_and_keeps_hooks(monkeypatch):
    """MLP.forward calls its layers as functions: the same numbers and gradients as nn.Sequential's module
    calls (small and large batches, tanh / relu / elu), and a layer with a hook is still called as a module.
    (The sigmoid form of a large tanh is off here: test_large_cpu_tanh_is_the_sigmoid_form_with_tanhs_gradient.)"""
    from reinforce.policy_base import MLP, mlp

    monkeypatch.setattr("reinforce.policy_base.FAST_TANH_ELEMENTS", 0)
    monkeypatch.setattr("reinforce.policy_base.FAST_TANH_GRAPH_ELEMENTS", 0)
    torch.manual_seed(0)
    for activation in ("tanh", "relu", "elu"):
        net = mlp(3, 2, (16, 16), activation)
        assert isinstance(net, MLP)
        plain = torch.nn.Sequential(*net)  # the same layer objects, called as modules
        for rows in (7, 300):  # (the activations run in place on each Linear's output: same values, same grads)
            x = torch.randn(rows, 3, requires_grad=True)
            ours, theirs = net(x), plain(x)
            assert torch.equal(ours, theirs)
            g_ours = torch.autograd.grad(ours.square().sum(), [x, *net.parameters()])
            g_theirs = torch.autograd.grad(theirs.square().sum(), [x, *net.parameters()])
            assert all(torch.equal(a, b) for a, b in zip(g_ours, g_theirs))
    seen = []
    handle = net[0].register_forward_hook(lambda module, inputs, output: seen.append(output.shape))
    net(torch.randn(5, 3))
    handle.remove()
    assert seen == [torch.Size([5, 16])]
    traced = torch.jit.trace(net, torch.randn(4, 3))  # tracing goes through the modules
    x = torch.randn(6, 3)
    assert torch.equal(traced(x), net(x))


def backward_nodes(tensor: torch.Tensor) -> set[str]:
    """The type names of every node in `tensor`'s backward graph."""
    names, todo = set(), [tensor.grad_fn]
    while todo:
        node = todo.pop()
        names.add(type(node).__name__)
        todo += [n for n, _ in node.next_functions if n is not None]
    return names


@pytest.mark.parametrize("features, outputs", [(4, 2), (6, 3), (64, 6)])
def test_linear_takes_a_long_narrow_batch_as_w_times_x_transposed(features, outputs):
    """From WIDE_BATCH_ROWS rows a 2-8 output layer is computed as (W xᵀ)ᵀ: F.linear's numbers and gradients to
    float rounding; the bias is added before the transpose (autograd records no CopySlices, whose backward
    copied the whole (rows, outputs) gradient through a transposed layout); below it, F.linear bit for bit."""
    from reinforce.policy_base import WIDE_BATCH_ROWS, linear

    torch.manual_seed(0)
    weight = torch.randn(outputs, features, requires_grad=True)
    bias = torch.randn(outputs, requires_grad=True)
    for rows in (WIDE_BATCH_ROWS - 1, WIDE_BATCH_ROWS):
        x = torch.randn(rows, features, requires_grad=True)
        ours, theirs = linear(x, weight, bias), torch.nn.functional.linear(x, weight, bias)
        assert ours.shape == theirs.shape == (rows, outputs)
        upstream = torch.randn(rows, outputs)
        g_ours = torch.autograd.grad(ours, [x, weight, bias], upstream)
        g_theirs = torch.autograd.grad(theirs, [x, weight, bias], upstream)
        if rows < WIDE_BATCH_ROWS:
            assert torch.equal(ours, theirs) and all(torch.equal(a, b) for a, b in zip(g_ours, g_theirs))
            continue
        assert ours.stride() == (1, rows)  # the transposed view of the (outputs, rows) product
        assert "CopySlices" not in backward_nodes(ours)
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5 * features)
        for a, b in zip(g_ours, g_theirs):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * features)


@pytest.mark.parametrize("rows", [300, 20_000])
def test_linear_multiplies_a_first_layer_by_a_row_major_copy_of_the_weight(rows):
    """A layer with few inputs and many outputs (5 → 64) multiplies by Wᵀ made contiguous, so that autograd takes
    its weight gradient as (xᵀ g)ᵀ: F.linear's numbers and gradients to float rounding; other shapes do not."""
    from reinforce.policy_base import linear, narrow_to_wide

    assert narrow_to_wide(5, 64) and narrow_to_wide(16, 16)
    assert not narrow_to_wide(64, 64) and not narrow_to_wide(5, 8) and not narrow_to_wide(17, 64)
    torch.manual_seed(0)
    weight, bias = torch.randn(64, 5, requires_grad=True), torch.randn(64, requires_grad=True)
    x = torch.randn(rows, 5)
    ours, theirs = linear(x, weight, bias), torch.nn.functional.linear(x, weight, bias)
    assert "CloneBackward0" in backward_nodes(ours)  # the contiguous copy of Wᵀ
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    upstream = torch.randn(rows, 64)
    for a, b in zip(torch.autograd.grad(ours, [weight, bias], upstream),
                    torch.autograd.grad(theirs, [weight, bias], upstream)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())


@pytest.mark.parametrize("hidden", [(8,), (16, 16)])
def test_mlp_in_place_activations_at_a_large_batch_equal_the_modules(hidden):
    """At WIDE_BATCH_ROWS rows a hidden layer of ≤ 8 units gives a transposed view (left out of place) and a wider
    one a fresh tensor (activated in place): both give nn.Sequential's numbers and gradients bit for bit."""
    from reinforce.policy_base import WIDE_BATCH_ROWS, mlp

    torch.manual_seed(0)
    net = mlp(3, 2, hidden, "relu")
    plain = torch.nn.Sequential(*net)
    x = torch.randn(WIDE_BATCH_ROWS, 3, requires_grad=True)
    ours, theirs = net(x), plain(x)
    assert torch.equal(ours, theirs)
    assert "CopySlices" not in backward_nodes(ours)
    g_ours = torch.autograd.grad(ours.square().sum(), [x, *net.parameters()])
    g_theirs = torch.autograd.grad(theirs.square().sum(), [x, *net.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(g_ours, g_theirs))


def test_large_cpu_tanh_is_the_sigmoid_form_with_tanhs_gradient():
    """policy_base.tanh: from FAST_TANH_ELEMENTS elements (FAST_TANH_GRAPH_ELEMENTS under autograd) 2·sigmoid(2x) − 1,
    within 2e-7 of torch's tanh, with the gradient 1 − y² of its own output; below them torch's tanh bit for bit;
    in place only outside a graph."""
    from reinforce.policy_base import FAST_TANH_ELEMENTS, FAST_TANH_GRAPH_ELEMENTS, mlp, tanh

    torch.manual_seed(0)
    x = torch.cat([torch.randn(FAST_TANH_GRAPH_ELEMENTS) * 3, torch.linspace(-40, 40, 1001),
                   torch.tensor([0.0, -0.0, 1e-30, float("inf"), float("-inf")])])
    y = tanh(x)
    assert not torch.equal(y, torch.tanh(x))  # the other formula ran
    torch.testing.assert_close(y, torch.tanh(x), rtol=0, atol=2e-7)
    assert y[-2] == 1 and y[-1] == -1 and y.abs().max() <= 1
    small = torch.randn(FAST_TANH_ELEMENTS - 1) * 3
    assert torch.equal(tanh(small), torch.tanh(small))
    for dtype in (torch.float64, torch.bfloat16):  # only float32: double keeps tanh's precision, half has none to spare
        other = x.to(dtype)
        assert torch.equal(tanh(other), torch.tanh(other))
    x.requires_grad_(True)
    y = tanh(x)
    assert torch.equal(y.detach(), tanh(x.detach()))  # the same formula with a graph
    (grad,) = torch.autograd.grad(y, x, torch.ones_like(y))
    assert torch.equal(grad, torch.ops.aten.tanh_backward(torch.ones_like(y), y.detach()))  # 1 - y², from the output
    torch.testing.assert_close(grad, 1 - torch.tanh(x.detach()).square(), rtol=0, atol=5e-7)
    with_graph = tanh(x, in_place=True)
    assert with_graph.data_ptr() != x.data_ptr() and with_graph.grad_fn is not None  # a leaf is never overwritten
    short_graph = torch.randn(FAST_TANH_GRAPH_ELEMENTS - 1, requires_grad=True)  # a small graph: torch's own tanh
    assert torch.equal(tanh(short_graph), torch.tanh(short_graph))
    z = torch.randn(FAST_TANH_ELEMENTS)
    assert tanh(z, in_place=True).data_ptr() == z.data_ptr()  # no graph: overwritten where it lies
    net = mlp(3, 2, (64,), "tanh")  # an MLP's tanh layers use it: 100 rows x 64 = 6,400 elements
    inputs = torch.randn(100, 3)
    with torch.no_grad():
        torch.testing.assert_close(net(inputs), torch.nn.Sequential(*net)(inputs), rtol=0, atol=1e-6)
        assert not torch.equal(net(inputs), torch.nn.Sequential(*net)(inputs))


def test_an_explicit_observation_normaliser_on_images_is_dropped_with_a_warning():
    """Images are scaled by their encoder; asked for anyway (not by the any-env defaults, which leave it off for
    images), the normaliser is left out and one warning says why."""
    images = gym.spaces.Box(0, 255, (84, 84, 4), np.uint8)
    with pytest.warns(UserWarning, match="normalize_observations applies to vector observations"):
        policy = make_policy(images, gym.spaces.Discrete(3), normalize_observations=True)
    assert policy.obs_normalizer is None and policy.encoder is not None
