"""reinforce: REINFORCE (vanilla policy gradient) on PyTorch and Gymnasium."""
from reinforce import envs as _envs  # noqa: F401  (registers reinforce/* env ids)

__version__ = "0.1.0"
