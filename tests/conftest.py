import sys
from pathlib import Path

import pytest
import torch

# Tests use small tensors: one intra-op thread per process avoids oversubscribing the cores
# when pytest-xdist runs several workers.
torch.set_num_threads(1)

sys.path.insert(0, str(Path(__file__).parent))
import toy_envs  # noqa: E402

toy_envs.register()


@pytest.fixture(autouse=True)
def _seed_torch():
    import torch

    torch.manual_seed(0)


@pytest.fixture
def sliced_vs_whole(monkeypatch):
    """f(agent, rows) -> (sliced, whole, slices): one collected batch's (loss, entropy, flat policy gradient) through
    the update's backward in slices of `rows` rows (policy_base.SLICE_FLOATS set for it) and with slicing off, and
    how many slices the first took (counted calls of the agent's loss)."""
    import reinforce.policy_base as policy_base

    def run(agent, rows):
        batch = agent.with_targets(agent.collect())
        calls = []
        original = agent._loss_and_entropy
        monkeypatch.setattr(agent, "_loss_and_entropy", lambda part: calls.append(part) or original(part))
        width = policy_base.widest_activation(agent.policy, agent.policy.obs_dim)
        out = []
        for floats in (rows * width, 0):
            monkeypatch.setattr(policy_base, "SLICE_FLOATS", floats)
            agent.optimizer.zero_grad(set_to_none=True)
            loss, entropy = agent._loss_with_grads(batch)
            out.append((loss, entropy, torch.cat([p.grad.reshape(-1) for p in agent.policy.parameters()])))
            if floats:
                slices = len(calls)
        return out[0], out[1], slices

    return run
