"""Returns against a brute-force per-episode reference."""
import pytest
import torch

from reinforce.returns import bootstrapped_returns, discounted_returns, gae, total_returns


def reference_returns(rewards, terminated, truncated, gamma, trunc_values=None, last_values=None):
    """Walk each env forward, split it into episode segments, and sum discounted rewards per step."""
    T, E = rewards.shape
    out = torch.zeros(T, E, dtype=torch.float64)
    for e in range(E):
        start = 0
        for t in range(T):
            ended = bool(terminated[t, e] or truncated[t, e])
            if ended or t == T - 1:
                # bootstrap value for what lies beyond this segment
                if terminated[t, e]:
                    tail = 0.0
                elif truncated[t, e]:
                    tail = 0.0 if trunc_values is None else float(trunc_values[t, e])
                else:
                    tail = 0.0 if last_values is None else float(last_values[e])
                for i in range(start, t + 1):
                    g = sum(gamma ** (k - i) * float(rewards[k, e]) for k in range(i, t + 1))
                    out[i, e] = g + gamma ** (t + 1 - i) * tail
                start = t + 1
    return out


@pytest.fixture
def rollout():
    g = torch.Generator().manual_seed(1)
    T, E = 40, 7
    rewards = torch.randn(T, E, generator=g, dtype=torch.float64)
    terminated = torch.rand(T, E, generator=g) < 0.08
    truncated = (torch.rand(T, E, generator=g) < 0.05) & ~terminated
    assert terminated.any() and truncated.any() and not (terminated | truncated)[-1].all()
    return rewards, terminated, truncated


@pytest.mark.parametrize("gamma", [0.0, 0.9, 1.0])
def test_cut_returns_match_reference(rollout, gamma):
    rewards, terminated, truncated = rollout
    got = bootstrapped_returns(rewards, terminated, truncated, gamma)
    torch.testing.assert_close(got, reference_returns(rewards, terminated, truncated, gamma))


def test_bootstrapped_returns_match_reference(rollout):
    rewards, terminated, truncated = rollout
    g = torch.Generator().manual_seed(2)
    trunc_values = torch.randn(rewards.shape, generator=g, dtype=torch.float64)
    last_values = torch.randn(rewards.shape[1], generator=g, dtype=torch.float64)
    got = bootstrapped_returns(rewards, terminated, truncated, 0.95, trunc_values, last_values)
    want = reference_returns(rewards, terminated, truncated, 0.95, trunc_values, last_values)
    torch.testing.assert_close(got, want)
    # values at rows that are not truncations must be ignored
    noisy = trunc_values + 100.0 * (~truncated)
    torch.testing.assert_close(bootstrapped_returns(rewards, terminated, truncated, 0.95, noisy, last_values), want)


def test_article_form_cuts_at_every_done(rollout):
    rewards, terminated, truncated = rollout
    dones = terminated | truncated
    want = reference_returns(rewards, dones, torch.zeros_like(dones), 0.99)
    torch.testing.assert_close(discounted_returns(rewards, dones.double(), 0.99), want)


def test_hand_computed_example():
    rewards = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    dones = torch.tensor([[0], [1], [0], [0]])
    # G_3 = 4 (rollout end), G_2 = 3 + .5*4, G_1 = 2 (done), G_0 = 1 + .5*2
    want = torch.tensor([[2.0], [2.0], [5.0], [4.0]])
    torch.testing.assert_close(discounted_returns(rewards, dones, 0.5), want)


def test_total_returns_broadcast_episode_start_value():
    rtg = torch.tensor([[5.0], [4.0], [3.0], [9.0], [8.0]])
    start = torch.tensor([[True], [False], [False], [True], [False]])
    torch.testing.assert_close(total_returns(rtg, start), torch.tensor([[5.0], [5.0], [5.0], [9.0], [9.0]]))


def test_bad_inputs():
    with pytest.raises(ValueError, match="same"):
        bootstrapped_returns(torch.zeros(3, 2), torch.zeros(3, 1, dtype=torch.bool), torch.zeros(3, 2, dtype=torch.bool), 0.9)
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns(torch.zeros(3, 2), torch.zeros(3, 2), 1.5)
    flags = torch.zeros(3, 2, dtype=torch.bool)
    for gamma in (float("nan"), 5.0, -0.1):  # GAE checks its gamma as the returns do, not only its lambda
        with pytest.raises(ValueError, match="gamma must be in"):
            gae(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 2), flags, flags, gamma, 0.9)


def test_integer_rewards_give_float_returns():
    returns = discounted_returns(torch.tensor([[1], [2], [3]]), torch.zeros(3, 1), 0.5)
    assert returns.dtype == torch.float32
    torch.testing.assert_close(returns, torch.tensor([[2.75], [3.5], [3.0]]))


def test_returns_keep_the_graph_of_values_that_have_one():
    """The in-place recursion is for plain tensors; a truncation value or last value with a graph gets its gradient."""
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    terminated = torch.zeros(3, 1, dtype=torch.bool)
    truncated = torch.tensor([[False], [True], [False]])
    cut = torch.full((3, 1), 10.0, requires_grad=True)
    last = torch.tensor([5.0], requires_grad=True)
    returns = bootstrapped_returns(rewards, terminated, truncated, 0.5, cut, last)
    # G_2 = 3 + 0.5·5 = 5.5; G_1 = 2 + 0.5·10 (cut at the truncation) = 7; G_0 = 1 + 0.5·7 = 4.5
    assert returns[:, 0].tolist() == [4.5, 7.0, 5.5]
    returns.sum().backward()
    assert last.grad.tolist() == [0.5] and cut.grad[:, 0].tolist() == [0.0, 0.5 + 0.25, 0.0]
    with torch.no_grad():
        assert bootstrapped_returns(rewards, terminated, truncated, 0.5, cut, last).equal(returns.detach())
