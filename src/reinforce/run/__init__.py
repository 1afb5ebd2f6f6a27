"""The run layer: a Config becomes env, policy and agent; a run folder, checkpoints and the training loop."""
