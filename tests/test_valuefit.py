"""reinforce.valuefit: the value fit's hand-written gradients are autograd's, and the agent takes them on CPU."""
import pytest
import torch
from torch import nn

import reinforce
from reinforce import valuefit
from reinforce.policy_base import mlp
from reinforce.run.build import build


def _autograd_loss_and_grads(net, inputs_kND, targets_N):
    net.zero_grad(set_to_none=True)
    loss = (net(inputs_kND).squeeze(-1).mean(0) - targets_N).pow(2).mean()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in net.parameters()]


@pytest.mark.parametrize(("copies", "hidden"), [(1, (64, 64)), (2, (32, 32)), (2, (16,)), (1, ())])
def test_hand_written_gradients_equal_autograd_to_rounding(copies, hidden):
    torch.manual_seed(0)
    net = mlp(5, 1, hidden, activation="tanh")
    n = 300
    inputs = torch.randn(copies, n, 5)
    targets = torch.randn(n) * 30  # value targets are returns: tens, not ones
    loss_ref, grads_ref = _autograd_loss_and_grads(net, inputs, targets)
    net.zero_grad(set_to_none=True)
    layers = valuefit.plain_tanh_layers(net)
    assert layers is not None and len(layers) == len(hidden) + 1
    loss = valuefit.mse_and_grads(layers, inputs.reshape(-1, 5), targets)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-6, atol=0)
    for p, g in zip(net.parameters(), grads_ref):
        assert p.grad.abs().max() > 0
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-5 * g.abs().max().item())


def test_nets_that_are_not_a_plain_tanh_mlp_keep_autograd():
    assert valuefit.plain_tanh_layers(mlp(4, 1, (8,), activation="relu")) is None
    assert valuefit.plain_tanh_layers(mlp(4, 2, (8,), activation="tanh")) is None  # not a value head
    no_bias = mlp(4, 1, (8,), activation="tanh")
    no_bias[2] = nn.Linear(8, 1, bias=False)
    assert valuefit.plain_tanh_layers(no_bias) is None
    assert valuefit.plain_tanh_layers(nn.Linear(4, 1)) is None  # not a Sequential
    with pytest.raises(ValueError, match="whole number of copies"):
        valuefit.mse_and_grads(valuefit.plain_tanh_layers(mlp(4, 1, (8,), activation="tanh")),
                               torch.randn(7, 4), torch.randn(3))


@pytest.mark.parametrize("mirror", [False, True])
def test_the_agent_fits_v_by_hand_and_lands_where_autograd_lands(monkeypatch, mirror):
    """Three epochs of a GAE agent (Pendulum: Gaussian policy, normaliser, 5 value fits an epoch) with the
    hand-written fit and with autograd's (plain_tanh_layers made to decline): the same weights to rounding."""
    cfg = reinforce.Config(env_id="Pendulum-v1", num_envs=8, steps_per_rollout=16, epochs=3, lr=3e-3, gamma=0.9,
                           baseline="gae", value_lr=1e-2, value_iters=5, hidden_sizes=(32, 32),
                           value_hidden_sizes=(32, 32), activation="tanh", normalize_observations=True,
                           mirror_obs_signs=(1, -1, -1) if mirror else (), seed=3, num_threads=1)

    def run(by_hand: bool):
        calls = []
        real = valuefit.mse_and_grads
        monkeypatch.setattr("reinforce.hotpath.mse_and_grads", lambda *a: calls.append(1) or real(*a))
        if not by_hand:  # declined when the agent's HotPath is made
            monkeypatch.setattr("reinforce.hotpath.plain_tanh_layers", lambda net: None)
        env, _, agent = build(cfg)
        start = [p.detach().clone() for p in agent.value_fn.parameters()]
        agent.learn(cfg.epochs)
        monkeypatch.undo()
        env.close()
        return agent, start, len(calls)

    hand, start, hand_calls = run(True)
    auto, _, auto_calls = run(False)
    assert (hand_calls, auto_calls) == (15, 0)
    assert max((p - p0).abs().max() for p, p0 in zip(hand.value_fn.parameters(), start)) > 1e-2  # V was fitted
    for p, q in zip(hand.value_fn.parameters(), auto.value_fn.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-5)
    # The policy steps on advantages from V: rounding-level differences there can tip Adam's step of a weight
    # whose gradient is near 0 (its step is ±lr whatever the gradient's size), so: within one step of lr.
    for p, q in zip(hand.policy.parameters(), auto.policy.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=cfg.lr)


@pytest.mark.parametrize("mirror", [False, True])
def test_a_long_value_fit_goes_in_slices_with_the_whole_batchs_loss_and_gradients(monkeypatch, mirror):
    """From two slices of rows on (policy_base.rows_per_slice) the fit by hand runs slice by slice, adding each
    slice's share of the gradients: the whole batch's loss and gradients to float rounding, mirror copies kept
    together (a slice of targets takes its rows from both copies)."""
    from reinforce.hotpath import HotPath
    from reinforce.value import ValueFunction

    torch.manual_seed(0)
    value_fn = ValueFunction(5, (64, 64))
    copies, n = (2, 3000) if mirror else (1, 5000)
    inputs = torch.randn(copies, n, 5) if mirror else torch.randn(n, 5)
    targets = torch.randn(n) * 30
    hot = HotPath(reinforce.CategoricalPolicy(5, 2), value_fn, entropy_grad=False, value_fn=value_fn)
    monkeypatch.setattr("reinforce.policy_base.SLICE_FLOATS", 64 * 1024)  # 1,024 rows of the 64-wide layers
    calls = []
    real = valuefit.mse_and_grads
    monkeypatch.setattr("reinforce.hotpath.mse_and_grads", lambda *a, **k: calls.append(a[1].shape[0]) or real(*a, **k))
    loss = hot.value_loss_and_grads(inputs, targets)
    sliced = [p.grad.clone() for p in value_fn.parameters()]
    per_slice = 1024 // copies
    assert calls == [copies * min(per_slice, n - start) for start in range(0, n, per_slice)]
    monkeypatch.setattr("reinforce.policy_base.SLICE_FLOATS", 0)  # the whole batch at once
    whole_loss = hot.value_loss_and_grads(inputs, targets)
    assert len(calls) == n // per_slice + 2
    torch.testing.assert_close(loss, whole_loss, rtol=1e-6, atol=0)
    for g, p in zip(sliced, value_fn.parameters()):
        assert not torch.equal(g, p.grad) or g.numel() == 1  # added up in another order
        torch.testing.assert_close(g, p.grad, rtol=1e-4, atol=1e-5 * p.grad.abs().max().item())


@pytest.mark.parametrize("mirror", [False, True])
def test_the_agents_v_of_a_long_batch_goes_in_slices_with_the_same_values(monkeypatch, mirror):
    """agent.value (the baseline and bootstrap values before the fit) runs a long (T, E, D) batch in the fit's
    slices of rows, the mirror's two sides counted as rows: the same values as one call, in the batch's shape."""
    cfg = reinforce.Config(env_id="Pendulum-v1", num_envs=40, steps_per_rollout=64, hidden_sizes=(16,),
                           value_hidden_sizes=(64, 64), baseline="gae", backend="native", seed=0,
                           normalize_observations=True, mirror_obs_signs=(1, -1, -1) if mirror else ())
    _, _, agent = build(cfg)
    agent.learn(1)  # a fitted V and normaliser, not the initial ones
    obs = agent.collect().obs  # (64, 40, 3): 2,560 rows
    monkeypatch.setattr("reinforce.policy_base.SLICE_FLOATS", 64 * 1024)  # 1,024 rows of the 64-wide layers
    seen = []
    real = agent._value_of
    monkeypatch.setattr(agent, "_value_of", lambda x: seen.append(x.shape[:-1]) or real(x))
    with torch.no_grad():
        sliced = agent.value(obs)
        per_slice = 1024 // (2 if mirror else 1)
        assert [s[-1] for s in seen] == [per_slice] * (2560 // per_slice) + ([2560 % per_slice] if 2560 % per_slice else [])
        monkeypatch.setattr("reinforce.policy_base.SLICE_FLOATS", 0)
        whole = agent.value(obs)
    assert sliced.shape == whole.shape == (64, 40)
    torch.testing.assert_close(sliced, whole, rtol=1e-6, atol=1e-5)  # (bit for bit on the machine measured)
