"""reinforce.optim: torch's Adam, step for step, without importing the compiler."""
import copy
import subprocess
import sys

import torch

from reinforce.optim import FastAdam, make_adam


def test_fast_adam_is_torch_adam_step_for_step_and_in_its_checkpoints():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    ours, theirs = FastAdam(a.parameters(), lr=0.01), torch.optim.Adam(b.parameters(), lr=0.01)
    for step in range(5):
        x = torch.randn(8, 5)
        for net, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            net(x).pow(2).sum().backward()
            opt.step()
        if step == 2:  # a checkpoint round trip in the middle, both ways
            theirs.load_state_dict(copy.deepcopy(ours.state_dict()))  # (a state dict holds the live tensors)
            ours.load_state_dict(copy.deepcopy(theirs.state_dict()))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert ours.state_dict()["state"][0]["step"] == theirs.state_dict()["state"][0]["step"] == 5
    ours.param_groups[0]["lr"] = 0.0  # the tensor-free lr change the linear schedule makes
    before = [p.clone() for p in a.parameters()]
    a(torch.randn(2, 5)).sum().backward()
    ours.step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), before))


def test_training_never_imports_the_compiler():
    code = (
        "import sys, reinforce\n"
        "env = reinforce.make_vec_env('CartPole-v1', 8, seed=0)\n"
        "agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), lr=0.1, steps_per_rollout=16, baseline='gae')\n"
        "agent.learn(epochs=2)\n"
        "agent.optimizer.load_state_dict(agent.optimizer.state_dict())\n"
        "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_make_adam_takes_the_fused_kernel_on_cpu_and_agrees_with_the_loop_to_rounding():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(6, 64), torch.nn.Linear(6, 64)
    b.load_state_dict(a.state_dict())
    start = [p.detach().clone() for p in a.parameters()]
    fused, loop = make_adam(a.parameters(), lr=0.01), FastAdam(b.parameters(), lr=0.01)
    assert fused.param_groups[0]["fused"] and not loop.param_groups[0]["fused"]
    for _ in range(50):
        x = torch.randn(32, 6)
        for net, opt in ((a, fused), (b, loop)):
            opt.zero_grad()
            net(x).tanh().pow(2).sum().backward()
            opt.step()
    for p, q, p0 in zip(a.parameters(), b.parameters(), start):
        assert (p - p0).abs().max() > 0.1  # 50 steps of lr 0.01 moved the weights by up to 0.5 ...
        torch.testing.assert_close(p, q, rtol=0, atol=1e-5)  # ... and the two kernels differ only in rounding


def test_a_loaded_checkpoint_keeps_the_optimizers_own_kernel_choice():
    """A checkpoint from before the fused kernel (fused None) or from another device must not switch it."""
    import reinforce

    def agent():
        env = reinforce.make_vec_env("CartPole-v1", 4, seed=0)
        return reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), lr=0.1, steps_per_rollout=8, baseline="gae")

    a, b = agent(), agent()
    a.learn(epochs=1)
    state = a.state_dict()
    for key in ("optimizer", "value_optimizer"):
        state[key]["param_groups"] = [{**g, "fused": None} for g in state[key]["param_groups"]]
    b.load_state_dict(state)
    assert b.optimizer.param_groups[0]["fused"] is True and b.value_optimizer.param_groups[0]["fused"] is True
    assert b.optimizer.state_dict()["state"][0]["step"] == 1  # the state itself did load


def test_the_lean_fused_step_is_torchs_fused_adam_bit_for_bit():
    """FastAdam's own fused CPU step (after the first) equals torch.optim.Adam(fused=True) exactly, through lr and
    weight-decay changes, maximize and two param groups; what it cannot take goes torch's way."""
    torch.manual_seed(0)
    a, b = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)), None
    b = copy.deepcopy(a)

    def groups(net):
        return [{"params": net[0].parameters()}, {"params": net[2].parameters(), "lr": 0.02}]

    ours, theirs = FastAdam(groups(a), lr=0.01, fused=True), torch.optim.Adam(groups(b), lr=0.01, fused=True)
    lean_steps = 0
    for step in range(12):
        if step == 4:
            for opt in (ours, theirs):
                opt.param_groups[0]["lr"], opt.param_groups[1]["weight_decay"] = 0.003, 0.1
        if step == 8:
            for opt in (ours, theirs):
                opt.param_groups[0]["maximize"] = True
        x = torch.randn(16, 5)
        lean_steps += bool(ours._lean_groups())
        for net, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    assert lean_steps == 11  # every step after the first, which makes the moments
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    for s, t in zip(ours.state.values(), theirs.state.values()):
        assert all(torch.equal(s[k], t[k]) for k in ("step", "exp_avg", "exp_avg_sq"))
    a[2].bias.grad = None  # a parameter without a gradient: torch's path, which skips it
    assert ours._lean_groups() == []
    ours.param_groups[0]["lr"] = torch.tensor(0.01)  # a tensor lr (a graphed run's): torch's path too
    a[2].bias.grad = torch.ones(1)
    assert ours._lean_groups() == []
    assert FastAdam(a.parameters(), lr=0.01)._lean_groups() == []  # not fused, and no moments yet
