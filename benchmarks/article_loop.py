"""A faithful re-implementation of the article's training loop, used as the speed baseline.

What the article does (and so what this does): N `copy.deepcopy`'d Gymnasium envs stepped one by
one in a Python loop, resetting an env as soon as it is done; a float64 torch policy whose `pi`
builds a `torch.distributions` object from `torch.as_tensor(states).double()` every step and
`.sample()`s it; numpy (T, E) buffers filled row by row; the returns loop
`G_t = r_t + γ(1 - d_t)·G_{t+1}` running backwards in Python; one Adam step on
`mean(-log π(a|s)·G)` per epoch. Only the Gym → Gymnasium API change (reset returns (obs, info),
step returns terminated and truncated, which the article's old Gym folded into `done`) differs.

    python benchmarks/article_loop.py --env CartPole-v1 --num-envs 32 --steps 1000 --epochs 3
"""
from __future__ import annotations

import argparse
import copy
import json
import time

import gymnasium as gym
import numpy as np
import torch


class VectorizedEnvWrapper:
    """The article's wrapper: deep copies of one env, stepped in a Python loop, reset when done."""

    def __init__(self, env: gym.Env, num_envs: int = 1, seed: int = 0):
        self.env = env
        self.num_envs = num_envs
        self.envs = [copy.deepcopy(env) for _ in range(num_envs)]
        self.observation_space, self.action_space = env.observation_space, env.action_space
        self._seed = seed

    def reset(self):
        seed, self._seed = self._seed, None
        return np.asarray([env.reset(seed=None if seed is None else seed + i)[0] for i, env in enumerate(self.envs)])

    def step(self, actions):
        next_states, rewards, dones = [], [], []
        for env, action in zip(self.envs, actions):
            next_state, reward, terminated, truncated, _ = env.step(action.item() if action.numel() == 1 else action.numpy())
            done = terminated or truncated
            if done:
                next_state, _ = env.reset()
            next_states.append(next_state)
            rewards.append(reward)
            dones.append(done)
        return np.asarray(next_states), np.asarray(rewards), np.asarray(dones)


class Policy:
    def pi(self, s_t):
        raise NotImplementedError

    def act(self, s_t):
        return self.pi(s_t).sample()

    def learn(self, states, actions, returns):
        actions = torch.tensor(actions)
        returns = torch.tensor(returns)
        log_prob = self.pi(states).log_prob(actions)
        loss = torch.mean(-log_prob * returns)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss.item()


class CategoricalPolicy(Policy):
    def __init__(self, env, lr=1e-2):
        self.N = env.observation_space.shape[0]
        self.M = env.action_space.n
        self.p = torch.nn.Sequential(torch.nn.Linear(self.N, self.M)).double()
        self.opt = torch.optim.Adam(self.p.parameters(), lr=lr)

    def pi(self, s_t):
        s_t = torch.as_tensor(s_t).double()
        return torch.distributions.Categorical(logits=self.p(s_t))


class DiagonalGaussianPolicy(Policy):
    def __init__(self, env, lr=1e-2):
        self.N = env.observation_space.shape[0]
        self.M = env.action_space.shape[0]
        self.mu = torch.nn.Sequential(
            torch.nn.Linear(self.N, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, self.M)
        ).double()
        self.log_sigma = torch.ones(self.M, dtype=torch.double, requires_grad=True)
        self.opt = torch.optim.Adam(list(self.mu.parameters()) + [self.log_sigma], lr=lr)

    def pi(self, s_t):
        s_t = torch.as_tensor(s_t).double()
        mu = self.mu(s_t)
        sigma = torch.exp(self.log_sigma)
        return torch.distributions.MultivariateNormal(mu, torch.diag(sigma))  # the article's σ-as-covariance


def calculate_returns(rewards, dones, gamma):
    result = np.empty_like(rewards)
    result[-1] = rewards[-1]
    for t in range(len(rewards) - 2, -1, -1):
        result[t] = rewards[t] + gamma * (1 - dones[t]) * result[t + 1]
    return result


def reinforce_epochs(env, agent, gamma=0.99, epochs=100, T=1000):
    """The article's REINFORCE loop; yields (epoch seconds, average reward) after each epoch."""
    states = np.empty((T, env.num_envs, agent.N))
    if isinstance(env.action_space, gym.spaces.Discrete):
        actions = np.empty((T, env.num_envs))
    else:
        actions = np.empty((T, env.num_envs, agent.M))
    rewards = np.empty((T, env.num_envs))
    dones = np.empty((T, env.num_envs))
    for _ in range(epochs):
        start = time.perf_counter()
        s_t = env.reset()
        for t in range(T):
            a_t = agent.act(s_t)
            s_t_next, r_t, d_t = env.step(a_t)
            states[t] = s_t
            actions[t] = a_t
            rewards[t] = r_t
            dones[t] = d_t
            s_t = s_t_next
        returns = calculate_returns(rewards, dones, gamma)
        agent.learn(states, actions, returns)
        average = rewards.sum() / max(dones.sum(), 1)
        yield time.perf_counter() - start, float(average)


def make_article(env_id: str, num_envs: int, lr: float | None = None, seed: int = 0):
    import reinforce.envs  # noqa: F401  (registers reinforce/CartPoleSwingUp-v0)

    torch.manual_seed(seed)
    env = VectorizedEnvWrapper(gym.make(env_id), num_envs=num_envs, seed=seed)
    if isinstance(env.action_space, gym.spaces.Discrete):
        agent: Policy = CategoricalPolicy(env, lr=0.1 if lr is None else lr)
    else:
        agent = DiagonalGaussianPolicy(env, lr=1e-2 if lr is None else lr)
    return env, agent


def article_steps_per_s(env_id: str, num_envs: int, steps: int, epochs: int, gamma: float, warmup: int = 1) -> list[float]:
    """Env steps per second of each measured epoch (collect + returns + update) of the article's loop."""
    env, agent = make_article(env_id, num_envs)
    times = [dt for dt, _ in reinforce_epochs(env, agent, gamma=gamma, epochs=warmup + epochs, T=steps)]
    return [steps * num_envs / dt for dt in times[warmup:]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="CartPole-v1")
    ap.add_argument("--num-envs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--gamma", type=float, default=0.99)
    args = ap.parse_args()
    sps = article_steps_per_s(args.env, args.num_envs, args.steps, args.epochs, args.gamma)
    print(json.dumps({"env": args.env, "num_envs": args.num_envs, "steps": args.steps, "steps_per_s": sps}))


if __name__ == "__main__":
    main()
