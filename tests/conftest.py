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
