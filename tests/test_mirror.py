"""Mirror-symmetric policies (`mirror_obs_signs`): the Gaussian's odd mean and even σ, the categorical's reversed
logits, refusals, save/load."""
import gymnasium as gym
import numpy as np
import pytest
import torch

import reinforce
from reinforce import presets
from reinforce.config import Config
from reinforce.policies import CategoricalPolicy, DiagonalGaussianPolicy, make_policy
from reinforce.run.build import build

SWINGUP_MIRROR = (-1, -1, 1, -1, -1)  # x, ẋ, sin θ, θ̇ flip; cos θ stays


def _shifted_normaliser(policy, obs_dim):
    """Running statistics far from symmetric, so only a mirror applied before the normaliser stays exact."""
    policy.enable_obs_normalization(obs_dim)
    policy.obs_normalizer.update(torch.randn(500, obs_dim) * 2 + 3)


@pytest.mark.parametrize("squash,state_dependent_std", [(False, False), (True, True)])
def test_the_mean_is_odd_and_sigma_even_for_any_weights(squash, state_dependent_std):
    torch.manual_seed(0)
    policy = DiagonalGaussianPolicy(5, 1, hidden_sizes=(16, 16), activation="tanh", squash=squash,
                                    state_dependent_std=state_dependent_std, mirror_obs_signs=SWINGUP_MIRROR)
    _shifted_normaliser(policy, 5)
    with torch.no_grad():
        for p in policy.parameters():
            p.normal_()  # far from the init, a biased head included
    obs_TE = torch.randn(7, 3, 5) * 2
    mirrored_TE = obs_TE * torch.tensor(SWINGUP_MIRROR, dtype=torch.float32)
    mean, log_std = policy.mean_and_log_std(obs_TE)
    mean_m, log_std_m = policy.mean_and_log_std(mirrored_TE)
    assert mean.shape == (7, 3, 1) and mean.abs().min() > 0  # not odd by being zero
    torch.testing.assert_close(mean_m, -mean)
    torch.testing.assert_close(log_std_m, log_std)
    torch.testing.assert_close(policy.act(mirrored_TE, deterministic=True), -policy.act(obs_TE, deterministic=True))
    # the log-prob of the mirrored action in the mirrored state is the same number
    action = policy.act(obs_TE)
    torch.testing.assert_close(policy.pi(mirrored_TE).log_prob(-action), policy.pi(obs_TE).log_prob(action))
    # a state the mirror maps onto itself (the pole hanging at rest in the middle) gets no push at all
    rest = torch.tensor([[0.0, 0.0, -1.0, 0.0, 0.0]])
    assert policy.act(rest, deterministic=True).abs().max() < 1e-6


def test_without_the_mirror_the_same_weights_push_at_rest():
    torch.manual_seed(0)
    plain = DiagonalGaussianPolicy(5, 1, hidden_sizes=(16,))
    mirrored = DiagonalGaussianPolicy(5, 1, hidden_sizes=(16,), mirror_obs_signs=SWINGUP_MIRROR)
    mirrored.load_state_dict({**plain.state_dict(), "obs_mirror": mirrored.obs_mirror})
    rest = torch.tensor([[0.0, 0.0, -1.0, 0.0, 0.0]])
    assert plain.act(rest, deterministic=True).abs().item() > 1e-3  # the bias alone pushes
    assert mirrored.act(rest, deterministic=True).abs().item() < 1e-6


def test_training_keeps_the_symmetry_and_the_setting_survives_save_and_load(tmp_path):
    cfg = Config(env_id="reinforce/CartPoleSwingUp-v0", num_envs=8, steps_per_rollout=16, epochs=3, seed=1,
                 hidden_sizes=(8,), squash=True, normalize_observations=True, baseline="gae",
                 autoregressive_noise_steps=10.0, mirror_obs_signs=SWINGUP_MIRROR)
    env, policy, agent = build(cfg)
    before = [p.detach().clone() for p in policy.parameters()]
    agent.learn(epochs=3)
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))  # it did learn
    obs = torch.randn(32, 5)
    mirror = torch.tensor(SWINGUP_MIRROR, dtype=torch.float32)
    torch.testing.assert_close(policy.act(obs * mirror, deterministic=True), -policy.act(obs, deterministic=True))
    with torch.no_grad():  # the critic shares the symmetry: V is even
        values = agent.value(obs)
        torch.testing.assert_close(agent.value(obs * mirror), values)
    assert values.std() > 0  # not even by being constant
    again = reinforce.load(agent.save(tmp_path / "a.pt"))
    assert again.describe().mirror_obs_signs == SWINGUP_MIRROR
    torch.testing.assert_close(again.policy.act(obs, deterministic=True), policy.act(obs, deterministic=True))
    env.close()


def test_mirror_value_false_keeps_the_policy_mirrored_and_fits_a_plain_v():
    """acrobot-fast's setting: the categorical still reverses under the mirror, V is no longer even, and its fit
    reads each row once (the hand-written fit sees T·E rows, not 2·T·E)."""
    signs = (1, -1, 1, -1, -1, -1)
    cfg = Config(env_id="Acrobot-v1", num_envs=8, steps_per_rollout=16, epochs=2, seed=0, hidden_sizes=(16,),
                 normalize_observations=True, baseline="gae", value_iters=2, mirror_obs_signs=signs, mirror_value=False)
    env, policy, agent = build(cfg)
    agent.learn(epochs=2)
    obs, mirror = torch.randn(32, 6), torch.tensor(signs, dtype=torch.float32)
    torch.testing.assert_close(policy.pi(obs * mirror).logits, policy.pi(obs).logits.flip(-1))
    with torch.no_grad():
        assert (agent.value(obs * mirror) - agent.value(obs)).abs().max() > 1e-4
    assert agent._value_inputs(obs).shape == (32, 6)
    assert cfg.replace(mirror_value=True).mirror_value and Config().mirror_value  # on by default
    with pytest.raises(TypeError, match="'mirror_value' must be bool"):  # as a config file's value
        cfg.replace(mirror_value="no")
    with pytest.raises(ValueError, match="mirror_value must be true or false"):  # as a Python argument
        Config(mirror_value=1)
    env.close()


def test_bad_mirrors_are_refused_with_what_is_accepted():
    with pytest.raises(ValueError, match="one sign, 1 or -1"):
        Config(mirror_obs_signs=(1, 0, -1))
    with pytest.raises(ValueError, match="5 here"):
        DiagonalGaussianPolicy(5, 1, mirror_obs_signs=(1, -1))
    box5 = gym.spaces.Box(-10, 10, (5,))
    with pytest.raises(ValueError, match="symmetric action bounds"):
        make_policy(box5, gym.spaces.Box(0.0, 1.0, (1,)), mirror_obs_signs=SWINGUP_MIRROR)
    with pytest.raises(ValueError, match="symmetric bounds"):
        DiagonalGaussianPolicy(5, 1, squash=True, action_low=[0.0], action_high=[2.0], mirror_obs_signs=SWINGUP_MIRROR)
    with pytest.raises(ValueError, match="mirror_obs_signs applies to Box actions .negated. and Discrete"):
        make_policy(box5, gym.spaces.MultiDiscrete([2, 3]), mirror_obs_signs=SWINGUP_MIRROR)
    with pytest.raises(ValueError, match="4 here"):
        CategoricalPolicy(4, 2, mirror_obs_signs=SWINGUP_MIRROR)
    # an unbounded Box is symmetric
    assert make_policy(box5, gym.spaces.Box(-float("inf"), float("inf"), (1,)), mirror_obs_signs=SWINGUP_MIRROR)


ACROBOT_MIRROR = (1, -1, 1, -1, -1, -1)  # θ1, θ2 -> -θ1, -θ2: the sines and velocities flip; torque -1/0/+1 reversed


def test_the_categorical_mirror_reverses_the_actions_for_any_weights():
    torch.manual_seed(0)
    policy = CategoricalPolicy(6, 3, hidden_sizes=(16,), mirror_obs_signs=ACROBOT_MIRROR)
    _shifted_normaliser(policy, 6)
    with torch.no_grad():
        for p in policy.parameters():
            p.normal_()
    obs = torch.randn(9, 6) * 2
    mirror = torch.tensor(ACROBOT_MIRROR, dtype=torch.float32)
    logits, logits_m = policy.pi(obs).logits, policy.pi(obs * mirror).logits
    assert (logits - logits.flip(-1)).abs().max() > 0.1  # not symmetric by being flat
    torch.testing.assert_close(logits_m, logits.flip(-1))
    torch.testing.assert_close(policy.act(obs * mirror, deterministic=True), 2 - policy.act(obs, deterministic=True))
    # on a state the mirror keeps, the outer actions are equally likely
    still = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0, 0.0]])
    probs = policy.pi(still).probs[0]
    torch.testing.assert_close(probs[0], probs[2])


def test_a_mirrored_cartpole_trains_and_survives_save_and_load(tmp_path):
    cfg = Config(env_id="CartPole-v1", num_envs=8, steps_per_rollout=16, epochs=2, seed=0,
                 mirror_obs_signs=(-1, -1, -1, -1), normalize_observations=True)
    env, policy, agent = build(cfg)
    agent.learn(epochs=2)
    obs = torch.randn(16, 4)
    # two actions: the mirror makes the logit difference odd, so P(left | s) = P(right | -s)
    torch.testing.assert_close(policy.pi(-obs).probs, policy.pi(obs).probs.flip(-1))
    again = reinforce.load(agent.save(tmp_path / "c.pt"))
    assert again.describe().mirror_obs_signs == (-1, -1, -1, -1)
    torch.testing.assert_close(again.policy.pi(obs).probs, policy.pi(obs).probs)
    env.close()


def _mirrored_step_pairs(env_id, signs, states, actions, mirror_action, set_state):
    """(obs', m·obs'', r, r'') for each state s and action a: one step from s with a, one from -s with the mirrored a."""
    env = gym.make(env_id)
    env.reset(seed=0)
    out = []
    for state, action in zip(states, actions):
        results = []
        for s, a in ((state, action), (-state, mirror_action(action))):
            set_state(env, s)
            obs, reward, terminated, _, _ = env.step(a)
            results.append((np.asarray(obs, dtype=np.float64), float(reward), terminated))
        (obs, r, term), (obs_m, r_m, term_m) = results
        out.append((obs, obs_m * np.asarray(signs), r, r_m, term, term_m))
    env.close()
    return out


@pytest.mark.parametrize("env_id,signs,kind", [
    ("Acrobot-v1", presets.preset("acrobot-fast").mirror_obs_signs, "discrete3"),
    ("Pendulum-v1", presets.preset("pendulum-fast").mirror_obs_signs, "box"),
    ("reinforce/CartPoleSwingUp-v0", (-1, -1, 1, -1, -1), "box"),
    ("CartPole-v1", (-1, -1, -1, -1), "discrete2"),
])
def test_the_mirror_signs_we_give_are_symmetries_of_the_env(env_id, signs, kind):
    """The presets' (and the docstring's) signs: stepping the mirrored state with the mirrored action gives the
    mirrored observation and the same reward, in Gymnasium's own envs (wrong signs fail this)."""
    rng = np.random.default_rng(0)
    dim = {"Acrobot-v1": 4, "Pendulum-v1": 2, "reinforce/CartPoleSwingUp-v0": 4, "CartPole-v1": 4}[env_id]
    states = rng.uniform(-0.5, 0.5, (20, dim))
    if kind == "box":
        actions = [rng.uniform(-1, 1, (1,)).astype(np.float32) for _ in states]
        mirror_action = lambda a: -a  # noqa: E731
    else:
        n = 3 if kind == "discrete3" else 2
        actions = list(rng.integers(0, n, len(states)))
        mirror_action = lambda a: n - 1 - a  # noqa: E731

    def set_state(env, s):
        if env_id.startswith("reinforce/"):
            env.reset(options={"state": s})
        else:  # a reset first: CartPole remembers a termination and pays 0 after it
            env.reset()
            env.unwrapped.state = s.copy()

    for obs, obs_m, r, r_m, term, term_m in _mirrored_step_pairs(env_id, signs, states, actions, mirror_action, set_state):
        np.testing.assert_allclose(obs_m, obs, atol=1e-5)
        assert r == pytest.approx(r_m, abs=1e-6) and term == term_m


def test_the_autoregressive_laws_are_mirrored_too():
    """The AR loss's conditional laws (reinforce.autoregressive.batch_pi) at the mirrored batch score the negated
    actions exactly as the batch's own: both μ terms go through the mirrored mean."""
    from reinforce import autoregressive as ar
    torch.manual_seed(0)
    policy = DiagonalGaussianPolicy(5, 1, hidden_sizes=(8,), squash=True, ar_steps=10.0, mirror_obs_signs=SWINGUP_MIRROR)
    _shifted_normaliser(policy, 5)
    with torch.no_grad():
        for p in policy.parameters():
            p.normal_()
    m = torch.tensor(SWINGUP_MIRROR, dtype=torch.float32)
    T, E = 6, 3
    obs_TE, prev_obs_E = torch.randn(T, E, 5), torch.randn(E, 5)
    actions_TE = torch.rand(T, E, 1) * 1.8 - 0.9  # inside the squashed bounds
    prev_u_E = torch.randn(E, 1)
    dones_TE = torch.zeros(T, E, dtype=torch.bool)
    dones_TE[2, 1] = True
    fresh_E = torch.tensor([False, True, False])
    logp = ar.batch_pi(policy, obs_TE, actions_TE, dones_TE, prev_obs_E, prev_u_E, fresh_E).log_prob(actions_TE.flatten(0, 1))
    logp_m = ar.batch_pi(policy, obs_TE * m, -actions_TE, dones_TE, prev_obs_E * m, -prev_u_E, fresh_E).log_prob(
        -actions_TE.flatten(0, 1))
    torch.testing.assert_close(logp_m, logp)
    # and the carried term matters: the same batch with the previous action not negated scores differently
    logp_wrong = ar.batch_pi(policy, obs_TE * m, -actions_TE, dones_TE, prev_obs_E * m, prev_u_E, fresh_E).log_prob(
        -actions_TE.flatten(0, 1))
    assert (logp_wrong - logp).abs().max() > 1e-3


def test_a_policy_built_by_hand_keeps_its_mirror_through_save_and_load(tmp_path):
    env = reinforce.make_vec_env("Pendulum-v1", num_envs=2, seed=0)
    policy = make_policy(env.single_observation_space, env.single_action_space, hidden_sizes=(8,),
                         mirror_obs_signs=(1, -1, -1))
    agent = reinforce.Reinforce(env, policy, steps_per_rollout=4)
    again = reinforce.load(agent.save(tmp_path / "p.pt"))
    assert again.describe().mirror_obs_signs == (1, -1, -1)
    obs = torch.randn(5, 3)
    torch.testing.assert_close(again.policy.act(obs, deterministic=True), policy.act(obs, deterministic=True))
    env.close()


def test_images_and_non_tuples_are_refused_clearly():
    with pytest.raises(ValueError, match="one sign, 1 or -1"):
        Config(mirror_obs_signs=-1)
    image = gym.spaces.Box(0, 255, (3, 36, 36), dtype="uint8")
    with pytest.raises(ValueError, match="vector observations, not to images"):
        make_policy(image, gym.spaces.Discrete(2), mirror_obs_signs=(1,) * (3 * 36 * 36))
