"""Mutation audit of the test suite: plant named bugs in the core, one at a time, and see which tests catch them.

    python benchmarks/mutations.py                      # every bug; JSON table; exit 1 if one survives
    python benchmarks/mutations.py --only clip_ignored  # one bug (comma-separated names for several)
    python benchmarks/mutations.py --list               # the bugs and where they are planted

Each bug is an exact text replacement in one file under src/reinforce. It is planted into a *copy* of
src/ and tests/ (a temporary folder; the working tree is never touched), and each of the bug's test
files runs there with `python -m pytest -x -q -p no:cacheprovider FILE` and `PYTHONPATH=<copy>/src`,
so the copy is what gets imported. A canary checks that: the copied conftest.py records the file of
every `reinforce` module the test session imported, and the script fails loudly unless all of them lie
inside the copy (and the mutated module is among them). An unmutated copy runs first (the control):
a test that fails without a bug would make every bug look caught. The script also fails loudly when
a bug's old text is not found exactly once (so it never silently tests nothing) or the mutant does
not compile.

Output: JSON {bug: {"file", "caught_by": {test file: first failing test}, "missed_by": [...]}}, plus
"control" and "seconds". Exit status 1 if a bug survived every file, 2 on a setup error.
"""
from __future__ import annotations

import argparse
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The test files that could catch a bug in each part (a file that never imports the mutated code cannot).
# The learning tests are the expensive ones: only the bugs the issue saw them miss run them.
RETURNS = ("test_returns.py", "test_baselines.py", "test_algorithm.py")
AGENT = ("test_baselines.py", "test_algorithm.py")
ROLLOUT = ("test_vector_rollout.py", "test_backends.py", "test_algorithm.py", "test_baselines.py")
LEARNING = ("test_learning.py",)


@dataclass(frozen=True)
class Bug:
    name: str
    file: str  # relative to src/reinforce
    old: str
    new: str
    tests: tuple[str, ...]  # test files (under tests/) that should catch it
    what: str


BUGS = [
    # -- returns ------------------------------------------------------------------------------------
    Bug("returns_no_done_mask", "returns.py",
        "    continues_TE = ~(terminated.bool() | truncated.bool())\n    # The value that stands in",
        "    continues_TE = torch.ones_like(terminated.bool())\n    # The value that stands in",
        RETURNS + LEARNING, "returns flow across episode ends"),
    Bug("returns_truncation_not_cut", "returns.py",
        "    continues_TE = ~(terminated.bool() | truncated.bool())\n    # The value that stands in",
        "    continues_TE = ~terminated.bool()\n    # The value that stands in",
        RETURNS, "a time limit does not end the return: it runs on into the next episode"),
    Bug("returns_no_discount", "returns.py",
        "_backwards(rewards, continues_TE, cut_value_TE, gamma, next_return_E, returns_TE)",
        "_backwards(rewards, continues_TE, cut_value_TE, 1.0, next_return_E, returns_TE)",
        RETURNS, "gamma ignored in the reward-to-go"),
    # -- bootstrapping with V (inside the agent) ----------------------------------------------------
    Bug("bootstrap_no_value_at_truncation", "algorithm.py",
        "return bootstrapped_returns(batch.rewards, batch.terminated, batch.truncated, gamma, final_TE, last_E)",
        "return bootstrapped_returns(batch.rewards, batch.terminated, batch.truncated, gamma, None, last_E)",
        AGENT, "with a value baseline, truncations are cut instead of bootstrapped with gamma*V(final obs)"),
    Bug("bootstrap_no_last_value", "algorithm.py",
        "return bootstrapped_returns(batch.rewards, batch.terminated, batch.truncated, gamma, final_TE, last_E)",
        "return bootstrapped_returns(batch.rewards, batch.terminated, batch.truncated, gamma, final_TE)",
        AGENT, "with a value baseline, the rollout end is cut instead of bootstrapped with gamma*V(s_T)"),
    Bug("bootstrap_from_reset_obs", "rollout.py",
        'final_T[t].copy_(info.get("final_obs", next_obs_E))',
        "final_T[t].copy_(next_obs_E)",
        ROLLOUT, "the kept final observation is the autoreset's first observation of the next episode"),
    Bug("gae_next_value_ignores_final_obs", "algorithm.py",
        "next_values_TE = torch.where(batch.dones, final_TE, torch.cat([values_TE[1:], last_E[None]]))",
        "next_values_TE = torch.cat([values_TE[1:], last_E[None]])",
        AGENT, "GAE's V(s_t+1) at an episode end is V of the next episode's start"),
    Bug("gae_bootstraps_terminations", "returns.py",
        "deltas_TE = rewards + gamma * torch.where(terminated.bool(), 0.0, next_values) - values",
        "deltas_TE = rewards + gamma * next_values - values",
        RETURNS, "GAE's TD error adds gamma*V after a termination"),
    Bug("termination_also_reported_as_truncation", "envs/adapters.py",
        "truncated = np.array(truncated, dtype=bool) & ~terminated",
        "truncated = np.array(truncated, dtype=bool)",
        ROLLOUT, "a time limit in the terminating step makes a termination bootstrap like a truncation"),
    # -- baselines ----------------------------------------------------------------------------------
    Bug("baseline_full_batch_mean", "reduce.py",
        "    others = (job_sum - per_env_E) / (T * (job_envs - 1).clamp_min(1))",
        "    others = job_sum / (T * job_envs) + 0 * per_env_E",
        AGENT, "the mean baseline includes the env's own returns (biased by O(1/N))"),
    Bug("baseline_value_after_fit", "algorithm.py",
        "        batch = self.with_targets(batch)\n        loss, entropy = self._loss_with_grads(batch) if backward else self._loss_and_entropy(batch)",
        "        if self.value_fn is not None:\n            self.fit_value(self.with_targets(batch))\n"
        "        batch = self.with_targets(batch)\n        loss, entropy = self._loss_with_grads(batch) if backward else self._loss_and_entropy(batch)",
        AGENT, "V is fitted on the batch before its weights are computed (the baseline sees the batch's actions)"),
    # -- clipping -----------------------------------------------------------------------------------
    Bug("clip_ignored", "algorithm.py",
        "grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), max_norm)",
        'grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), float("inf"))',
        AGENT, "max_grad_norm ignored (the norm is still reported)"),
    Bug("clipped_action_stored", "rollout.py",
        "                actions_T[t].copy_(action_E)\n",
        "                actions_T[t].copy_(action_E if spec.kind != 'box' else action_E.clamp("
        "torch.as_tensor(self.env.single_action_space.low), torch.as_tensor(self.env.single_action_space.high)))\n",
        ROLLOUT + LEARNING, "Box actions are stored (and scored) clipped to the bounds instead of as sampled"),
    # -- log-probabilities --------------------------------------------------------------------------
    Bug("gaussian_log_prob_mean_over_dims", "distributions.py",
        "return (-0.5 * z * z - self.log_std - _HALF_LOG_2PI).sum(-1)",
        "return (-0.5 * z * z - self.log_std - _HALF_LOG_2PI).mean(-1)",
        ("test_algorithm.py", "test_distributions.py", "test_policies.py"),
        "the Gaussian log-prob is averaged, not summed, over action dimensions"),
    Bug("loss_wrong_sign", "algorithm.py",
        "policy_loss, entropy = -(logp_N * weights_N).mean(), entropy_N.mean()",
        "policy_loss, entropy = (logp_N * weights_N).mean(), entropy_N.mean()",
        AGENT, "gradient ascent on the loss: the policy gradient with the wrong sign"),
    # -- masks --------------------------------------------------------------------------------------
    Bug("episode_starts_off_by_one", "returns.py",
        "    starts[1:] = dones[:-1].bool()",
        "    starts[1:] = dones[1:].bool()",
        RETURNS, "the total return form opens each episode one row early"),
    # -- advantage normalisation --------------------------------------------------------------------
    Bug("normalize_biased_std", "reduce.py",
        "std = ((sums[2] - count * mean**2) / (count - 1).clamp_min(1)).clamp_min(0).sqrt()",
        "std = ((sums[2] - count * mean**2) / count.clamp_min(1)).clamp_min(0).sqrt()",
        AGENT, "normalised advantages divided by the biased (population) std"),
    Bug("normalize_not_centred", "reduce.py",
        "return torch.where(count > 1, (w - mean) / (std + eps), w).to(weights.dtype)",
        "return torch.where(count > 1, w / (std + eps), w).to(weights.dtype)",
        AGENT, "normalised advantages keep their mean"),
]

CANARY = '''

# -- added by benchmarks/mutations.py: record where every reinforce module came from ---------------
def pytest_sessionfinish(session, exitstatus):
    import json as _json, os as _os, sys as _sys

    _mods = {n: getattr(m, "__file__", None) for n, m in list(_sys.modules.items()) if n.split(".")[0] == "reinforce"}
    with open(_os.environ["MUTATION_CANARY"], "w") as _f:
        _json.dump(_mods, _f)
'''


class SetupError(RuntimeError):
    """The audit itself is broken (pattern missing, mutant does not compile, wrong package imported)."""


def make_copy(dest: Path) -> None:
    """src/, tests/ and pyproject.toml (pytest's markers and options) into `dest`, without caches."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache")
    shutil.copytree(ROOT / "src", dest / "src", ignore=ignore)
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    with open(dest / "tests" / "conftest.py", "a") as f:
        f.write(CANARY)


def plant(dest: Path, bug: Bug) -> None:
    """Replace `bug.old` (which must occur exactly once) by `bug.new` in the copy; check it compiles."""
    path = dest / "src" / "reinforce" / bug.file
    text = path.read_text()
    count = text.count(bug.old)
    if count != 1:
        raise SetupError(f"{bug.name}: the text to replace occurs {count} times in src/reinforce/{bug.file} "
                         f"(expected once): {bug.old!r}")
    path.write_text(text.replace(bug.old, bug.new))
    try:
        py_compile.compile(str(path), doraise=True, cfile=str(dest / "compiled.pyc"))
    except py_compile.PyCompileError as err:
        raise SetupError(f"{bug.name}: the mutant does not compile: {err}") from None


def run_file(dest: Path, test_file: str, bug: Bug | None, timeout: float) -> dict:
    """Run one test file in the copy; returns {"caught": bool, "first": nodeid or None, "seconds"}."""
    canary = dest / f"canary-{test_file}.json"
    canary.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(dest / "src"), "MUTATION_CANARY": str(canary), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
               f"tests/{test_file}"]
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=dest, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"caught": True, "first": f"timeout after {timeout:.0f} s", "seconds": timeout}
    seconds = round(time.perf_counter() - start, 1)
    output = proc.stdout + proc.stderr
    if proc.returncode not in (0, 1):
        raise SetupError(f"{bug.name if bug else 'control'}: pytest tests/{test_file} exited {proc.returncode}:\n"
                         f"{output[-3000:]}")
    check_canary(dest, canary, bug, test_file)
    first = None
    if proc.returncode == 1:
        match = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
        first = match.group(1) if match else "(failed; no test named)"
    return {"caught": proc.returncode == 1, "first": first, "seconds": seconds, "output": output}


def check_canary(dest: Path, canary: Path, bug: Bug | None, test_file: str) -> None:
    """Every reinforce module the session imported must come from the copy."""
    if not canary.exists():
        raise SetupError(f"tests/{test_file}: the canary wrote nothing (was the copy's conftest.py used?)")
    modules = json.loads(canary.read_text())
    root = str(dest.resolve() / "src") + os.sep
    outside = {n: f for n, f in modules.items() if f and not os.path.realpath(f).startswith(root)}
    if outside or "reinforce" not in modules:
        raise SetupError(f"tests/{test_file} imported reinforce from outside the copy: {outside or modules}")


def audit(bugs: list[Bug], files: tuple[str, ...] | None, jobs: int, timeout: float, keep: bool) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="reinforce-mutations-"))
    try:
        copies = {}
        for key in [None, *bugs]:
            dest = tmp / ("control" if key is None else key.name)
            make_copy(dest)
            if key is not None:
                plant(dest, key)
            copies[key] = dest
        bug_files = {bug: [f for f in bug.tests if files is None or f in files] for bug in bugs}
        for bug, selected in bug_files.items():
            if not selected:
                raise SetupError(f"{bug.name}: none of its test files ({', '.join(bug.tests)}) is among --files")
        control_files = sorted({f for fs in bug_files.values() for f in fs})
        for f in control_files:
            if not (ROOT / "tests" / f).exists():
                raise SetupError(f"no test file tests/{f}")
        tasks = [(bug, f) for bug in bugs for f in bug_files[bug]]
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            # The control first: if the unmutated suite fails, no bug can be judged.
            control = dict(zip(control_files, pool.map(lambda f: run_file(copies[None], f, None, timeout), control_files)))
            broken = {f: r["first"] for f, r in control.items() if r["caught"]}
            if broken:
                details = "\n".join(r["output"][-2000:] for r in control.values() if r["caught"])
                raise SetupError(f"the unmutated suite fails, so no bug can be judged: {broken}\n{details}")
            results = list(pool.map(lambda task: (task, run_file(copies[task[0]], task[1], task[0], timeout)), tasks))
    finally:
        if keep:
            print(f"mutations: copies kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    table = {}
    for bug in bugs:
        rows = {f: r for (b, f), r in results if b is bug}
        table[bug.name] = {
            "file": f"src/reinforce/{bug.file}",
            "what": bug.what,
            "caught_by": {f: r["first"] for f, r in rows.items() if r["caught"]},
            "missed_by": [f for f, r in rows.items() if not r["caught"]],
            "seconds": {f: r["seconds"] for f, r in rows.items()},
        }
    return {"control": {f: "passed" for f in control}, "bugs": table}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", help="comma-separated bug names (default: all)")
    p.add_argument("--files", help="comma-separated test files to run (default: each bug's own list)")
    p.add_argument("--jobs", type=int, default=2, help="test files run in parallel (default 2)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per test file run (a hang counts as caught)")
    p.add_argument("--keep", action="store_true", help="keep the temporary copies (their path is printed)")
    p.add_argument("--list", action="store_true", help="list the bugs and exit")
    p.add_argument("--check", action="store_true", help="only plant each bug in a copy and compile it (no tests)")
    p.add_argument("--out", type=Path, help="also write the JSON table here")
    args = p.parse_args(argv)
    if args.list:
        for bug in BUGS:
            print(f"{bug.name:40s} src/reinforce/{bug.file:18s} {bug.what}")
        return 0
    bugs = BUGS
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - {b.name for b in BUGS})
        if unknown:
            print(f"mutations: unknown bug(s) {', '.join(unknown)}; see --list", file=sys.stderr)
            return 2
        bugs = [b for b in BUGS if b.name in names]
    if args.check:
        with tempfile.TemporaryDirectory(prefix="reinforce-mutations-") as tmp:
            try:
                for bug in bugs:
                    make_copy(Path(tmp) / bug.name)
                    plant(Path(tmp) / bug.name, bug)
            except SetupError as err:
                print(f"mutations: setup error: {err}", file=sys.stderr)
                return 2
        print(f"{len(bugs)} bugs planted and compiled")
        return 0
    files = tuple(f.strip() for f in args.files.split(",")) if args.files else None
    start = time.perf_counter()
    try:
        result = audit(bugs, files, args.jobs, args.timeout, args.keep)
    except SetupError as err:
        print(f"mutations: setup error: {err}", file=sys.stderr)
        return 2
    survivors = [name for name, row in result["bugs"].items() if not row["caught_by"]]
    result["survivors"] = survivors
    result["seconds"] = round(time.perf_counter() - start, 1)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
