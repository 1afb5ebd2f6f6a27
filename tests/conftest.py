import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import toy_envs  # noqa: E402

toy_envs.register()


@pytest.fixture(autouse=True)
def _seed_torch():
    import torch

    torch.manual_seed(0)
