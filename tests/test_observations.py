"""Observation spaces -> what the policy reads (reinforce.observations), and the image encoders."""
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

import reinforce
from reinforce import observations
from reinforce.encoders import ImageEncoder, make_encoder, resolve_encoder
from reinforce.envs.vector import from_env
from reinforce.observations import encode_batch, is_single, observation_spec
from reinforce.policies import make_policy

S = gym.spaces


@pytest.mark.parametrize("space, kind, shape, dtype", [
    (S.Box(-1, 1, (3, 2)), "vector", (6,), "float32"),
    (S.Discrete(5, start=2), "vector", (5,), "float32"),
    (S.MultiDiscrete([2, 3]), "vector", (5,), "float32"),
    (S.MultiBinary(4), "vector", (4,), "float32"),
    (S.Tuple((S.Discrete(32), S.Discrete(11), S.Discrete(2))), "vector", (45,), "float32"),  # Blackjack
    (S.Box(0, 255, (84, 84, 4), np.uint8), "image", (84, 84, 4), "uint8"),
    (S.Box(0, 255, (4, 84, 84), np.uint8), "image", (4, 84, 84), "uint8"),
    (S.Box(0, 1, (10, 10, 4), bool), "image", (10, 10, 4), "bool"),  # MinAtar
    (S.Box(0, 255, (84, 84), np.uint8), "image", (84, 84), "uint8"),
    (S.Box(0, 255, (2, 6), np.uint8), "vector", (12,), "float32"),  # too thin for an image
])
def test_spec_of_each_space(space, kind, shape, dtype):
    spec = observation_spec(space)
    assert (spec.kind, spec.shape, spec.dtype) == (kind, shape, dtype)


def test_channel_axis_is_the_short_one():
    assert observation_spec(S.Box(0, 255, (84, 84, 4), np.uint8)).channels_last
    assert not observation_spec(S.Box(0, 255, (4, 84, 84), np.uint8)).channels_last


def test_vector_encoding_equals_gymnasiums_flatten():
    space = S.Dict({"a": S.Box(-2, 2, (2, 2)), "b": S.Discrete(3), "c": S.MultiDiscrete([2, 4]), "d": S.MultiBinary(3),
                    "e": S.Tuple((S.Discrete(2, start=-1), S.Box(0, 1, (1,))))})
    space.seed(0)
    samples = [space.sample() for _ in range(6)]
    batched = {k: (tuple(np.stack([s[k][i] for s in samples]) for i in range(2)) if k == "e"
                   else np.stack([s[k] for s in samples])) for k in space.spaces}
    got = encode_batch(space, observation_spec(space), batched, 6)
    expected = np.stack([S.flatten(space, s) for s in samples]).astype(np.float32)
    assert got.dtype == np.float32 and np.array_equal(got, expected)


def test_text_parts_are_dropped_with_one_notice_and_the_mask_is_not_an_input(monkeypatch):
    monkeypatch.setattr(observations, "_noticed", set())  # once per process: another test may have had it
    space = S.Dict({"image": S.Box(0, 10, (3, 3, 3), np.uint8), "direction": S.Discrete(4), "mission": S.Text(20),
                    "action_mask": S.MultiBinary(3)})
    spec = observation_spec(space)
    assert spec.kind == "vector" and spec.shape == (27 + 4,) and spec.mask_key == "action_mask"
    assert set(spec.dropped) == {"mission", "action_mask"}
    batch = {"image": np.ones((2, 3, 3, 3), np.uint8), "direction": np.array([1, 3]), "mission": ["go", "go"],
             "action_mask": np.ones((2, 3), np.int8)}
    with pytest.warns(UserWarning, match="mission are not numbers"):
        encode_batch(space, spec, batch, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = encode_batch(space, spec, batch, 2)  # once only
    assert list(space.spaces) == ["action_mask", "direction", "image", "mission"]  # Gymnasium sorts the keys
    assert np.array_equal(out[:, :4], np.eye(4, dtype=np.float32)[[1, 3]]) and np.array_equal(out[:, 4:], np.ones((2, 27)))


def test_is_single():
    dict_space = S.Dict({"x": S.Box(-1, 1, (3,)), "m": S.Text(4)})
    assert is_single(dict_space, {"x": np.zeros(3), "m": "a"})
    assert not is_single(dict_space, {"x": np.zeros((2, 3)), "m": ["a", "b"]})
    assert is_single(S.Discrete(3), 2) and not is_single(S.Discrete(3), np.array([1, 2]))
    assert is_single(S.Box(0, 255, (8, 8, 3), np.uint8), np.zeros((8, 8, 3))) and not is_single(
        S.Box(0, 255, (8, 8, 3), np.uint8), np.zeros((5, 8, 8, 3)))


# ------------------------------------------------------------------------------------------ encoders
def test_encoder_choice_follows_the_image_size():
    big, small = observation_spec(S.Box(0, 255, (84, 84, 4), np.uint8)), observation_spec(S.Box(0, 1, (10, 10, 4), bool))
    assert resolve_encoder(big) == "nature_cnn" and resolve_encoder(small) == "small_cnn"
    assert resolve_encoder(big, "small_cnn") == "small_cnn"
    assert resolve_encoder(observation_spec(S.Box(-1, 1, (4,)))) == "flat" and make_encoder(observation_spec(S.Discrete(3))) is None
    with pytest.raises(ValueError, match="at least 36 pixels"):
        make_encoder(small, "nature_cnn")
    with pytest.raises(ValueError, match="takes image observations"):
        make_encoder(observation_spec(S.Box(-1, 1, (4,))), "small_cnn")


@pytest.mark.parametrize("shape, features", [((84, 84, 4), 512), ((4, 84, 84), 512), ((84, 84), 512), ((10, 10, 4), 128)])
def test_encoder_shapes_and_dtypes(shape, features):
    enc = make_encoder(observation_spec(S.Box(0, 255, shape, np.uint8)))
    out = enc(torch.randint(0, 256, (3, 2, *shape), dtype=torch.uint8))
    assert out.shape == (3, 2, features) and out.dtype == torch.float32


def test_hwc_and_chw_read_the_same_pixels_and_uint8_is_scaled():
    torch.manual_seed(0)
    hwc = ImageEncoder(observation_spec(S.Box(0, 255, (12, 12, 3), np.uint8)), "small_cnn")
    chw = ImageEncoder(observation_spec(S.Box(0, 255, (3, 12, 12), np.uint8)), "small_cnn")
    chw.load_state_dict(hwc.state_dict())
    x = torch.randint(0, 256, (5, 12, 12, 3), dtype=torch.uint8)
    assert torch.allclose(hwc(x), chw(x.permute(0, 3, 1, 2)), atol=1e-6)
    as_float = ImageEncoder(observation_spec(S.Box(0, 1, (12, 12, 3), bool)), "small_cnn")  # bool: no scaling
    as_float.load_state_dict(hwc.state_dict())
    assert torch.allclose(hwc(x), as_float.net(x.permute(0, 3, 1, 2).float() / 255), atol=1e-6)


# ------------------------------------------------------------------------------ an image env end to end
class BrightSide(gym.Env):
    """8×8 grey frames with one bright column on the left or right half; reward 1 for naming the side."""

    observation_space = S.Box(0, 255, (8, 8, 1), np.uint8)
    action_space = S.Discrete(2)

    def _frame(self):
        self.side = int(self.np_random.integers(2))
        frame = np.full((8, 8, 1), 40, np.uint8)
        frame[:, int(self.np_random.integers(4)) + 4 * self.side] = 255
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._frame(), {}

    def step(self, action):
        reward = float(int(action) == self.side)
        return self._frame(), reward, True, False, {}


gym.register("reinforce-test/BrightSide-v0", entry_point=BrightSide)


def _image_agent(**kw):
    env = reinforce.make_vec_env("reinforce-test/BrightSide-v0", 8, seed=0)
    policy = make_policy(env.single_observation_space, env.single_action_space)
    return env, policy, reinforce.Reinforce(env, policy, lr=3e-3, steps_per_rollout=16, **kw)


def test_image_rollout_keeps_uint8_and_the_value_function_has_its_own_cnn():
    env, policy, agent = _image_agent(baseline="gae", normalize_advantages=True)
    batch = agent.collect()
    assert batch.obs.dtype == torch.uint8 and batch.obs.shape == (16, 8, 8, 8, 1)
    assert batch.final_obs.dtype == torch.uint8
    assert agent.value_fn.encoder is not None and agent.value_fn.encoder is not policy.encoder
    metrics = agent.update(batch)
    assert np.isfinite(metrics["train/loss"]) and np.isfinite(metrics["train/value_loss"])


def test_shared_encoder_is_the_policys_and_the_value_fit_trains_it(tmp_path):
    env, policy, agent = _image_agent(baseline="gae", share_encoder=True, value_iters=1)
    assert agent.value_fn.encoder is policy.encoder
    batch = agent.with_targets(agent.collect())
    before = [p.detach().clone() for p in policy.encoder.parameters()]
    head_before = [p.detach().clone() for p in policy.logits.parameters()]
    agent.fit_value(batch)  # the value loss alone: the policy's CNN moves, its action head does not
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.encoder.parameters()))
    assert all(torch.equal(b, p) for b, p in zip(head_before, policy.logits.parameters()))
    agent.learn(epochs=2)
    agent.save(tmp_path / "a.pt")
    again = reinforce.load(tmp_path / "a.pt")
    assert again.value_fn.encoder is again.policy.encoder  # still one CNN after a round trip
    for p, q in zip(agent.value_fn.parameters(), again.value_fn.parameters()):
        assert torch.equal(p, q)


def test_shared_encoder_says_what_it_needs():
    with pytest.raises(ValueError, match="baseline 'value' or 'gae'"):
        _image_agent(baseline="mean", share_encoder=True)
    env = reinforce.make_vec_env("CartPole-v1", 2, seed=0)
    policy = make_policy(env.single_observation_space, env.single_action_space)
    with pytest.raises(ValueError, match="this policy is linear"):
        reinforce.Reinforce(env, policy, baseline="gae", share_encoder=True)


def test_shared_torso_of_a_vector_policy_is_its_hidden_layers():
    env = reinforce.make_vec_env("Pendulum-v1", 4, seed=0)
    policy = make_policy(env.single_observation_space, env.single_action_space, hidden_sizes=(16, 8))
    agent = reinforce.Reinforce(env, policy, baseline="gae", share_encoder=True, value_hidden_sizes=(),
                                steps_per_rollout=8, value_iters=1, lr=1e-3)
    shared = {id(p) for p in agent.value_fn.parameters()}
    assert all(id(p) in shared for p in policy.mu[:-1].parameters())
    assert not any(id(p) in shared for p in policy.mu[-1].parameters())
    assert agent.value_fn.net[0].in_features == 8  # the value head reads the last hidden layer
    batch = agent.with_targets(agent.collect())
    first, out = policy.mu[0].weight.detach().clone(), policy.mu[-1].weight.detach().clone()
    agent.fit_value(batch)
    assert not torch.equal(first, policy.mu[0].weight) and torch.equal(out, policy.mu[-1].weight)


@pytest.mark.parametrize("estimator", [dict(baseline="mean"), dict(baseline="gae", share_encoder=True, value_iters=1)],
                         ids=["mean-baseline", "shared-value-cnn"])
def test_cnn_policy_learns_which_side_is_bright(tmp_path, estimator):
    torch.manual_seed(0)
    env, policy, agent = _image_agent(normalize_advantages=True, **estimator)
    agent.learn(epochs=60)
    probe = BrightSide()
    probe.reset(seed=123)  # fresh frames, never trained on
    obs = np.stack([probe._frame() for _ in range(200)])
    sides = (obs[:, 0, :, 0].argmax(axis=1) >= 4).astype(int)  # where the bright column is
    accuracy = (agent.predict(obs, deterministic=True) == sides).mean()
    # a random policy is right half the time: 200 frames give SE 0.035, so 0.9 is > 11 SE above chance
    assert accuracy >= 0.9
    agent.save(tmp_path / "a.pt")
    again = reinforce.load(tmp_path / "a.pt")
    assert np.array_equal(again.predict(obs, deterministic=True), agent.predict(obs, deterministic=True))
    assert again.predict(obs[0], deterministic=True).shape == ()


# ------------------------------------------------------------------- Discrete and Dict observations
class MaskedPick(gym.Env):
    """Dict observations {"cell": Discrete(3), "action_mask": two of four actions allowed}; reward: the
    action's index / 3 when the cell is 0, 1 - index / 3 otherwise. Never a disallowed action's reward."""

    observation_space = S.Dict({"cell": S.Discrete(3), "action_mask": S.MultiBinary(4)})
    action_space = S.Discrete(4)

    def _obs(self):
        self.cell = int(self.np_random.integers(3))
        mask = np.zeros(4, np.int8)
        mask[self.np_random.choice(4, 2, replace=False)] = 1
        self.mask = mask
        return {"cell": self.cell, "action_mask": mask}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        assert self.mask[int(action)], "a masked action reached the env"
        reward = int(action) / 3 if self.cell == 0 else 1 - int(action) / 3
        return self._obs(), reward, True, False, {}


gym.register("reinforce-test/MaskedPick-v0", entry_point=MaskedPick)


def test_dict_observation_mask_is_applied_and_the_discrete_part_is_read():
    torch.manual_seed(0)
    env = reinforce.make_vec_env("reinforce-test/MaskedPick-v0", 16, seed=0)
    assert observation_spec(env.single_observation_space).shape == (3,)  # the one-hot cell; the mask is no input
    policy = make_policy(env.single_observation_space, env.single_action_space, hidden_sizes=(16,))
    agent = reinforce.Reinforce(env, policy, lr=0.03, steps_per_rollout=16, baseline="mean", normalize_advantages=True)
    batch = agent.collect()
    assert batch.action_mask is not None
    assert batch.action_mask.gather(-1, batch.actions.unsqueeze(-1)).all()  # every sampled action was allowed
    agent.learn(epochs=80)
    both = {"cell": np.array([0, 0, 1, 2]), "action_mask": np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1]])}
    # cell 0 wants the highest allowed action, the others the lowest
    assert agent.predict(both, deterministic=True).tolist() == [1, 3, 0, 2]
    assert agent.predict({"cell": 0, "action_mask": np.array([1, 0, 1, 0])}, deterministic=True) == 2
