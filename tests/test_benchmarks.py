"""Benchmark scripts run end to end with tiny budgets and print the JSON their docs quote."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_native_envs_benchmark_reports_both_backends(tmp_path):
    out = tmp_path / "native.json"
    result = run_script("native_envs.py", "--envs", "Acrobot-v1", "MountainCar-v0", "--num-envs", "8", "--steps", "5",
                        "--repeats", "1", "--out", str(out))
    assert json.loads(out.read_text()) == result
    for env_id in ("Acrobot-v1", "MountainCar-v0"):
        row = result["envs"][env_id]
        assert row["native_steps_per_s"] > 0 and row["sync_steps_per_s"] > 0
        assert abs(row["ratio"] - row["native_steps_per_s"] / row["sync_steps_per_s"]) < 0.06


def test_latency_benchmark_times_each_command_and_the_training_overhead():
    result = run_script("latency.py", "--repeats", "1", "--epochs", "2")
    rows = result["commands"]
    assert {"import torch", "reinforce --help", "reinforce presets"} <= set(rows)
    train = [row for name, row in rows.items() if name.startswith("train --preset")]
    assert len(train) == 2
    for row in train:  # the overhead is what the process took beyond import torch and the training
        # (each figure is rounded to 1 ms on its own: allow two roundings)
        assert abs(row["overhead_s"] - (row["runs_s"][0] - result["import_torch_s"] - row["training_s"])) <= 0.0021
        assert row["process_s"] > row["training_s"] > 0  # (one repeat: import torch alone may take longer by chance)


def test_graphed_benchmark_runs_both_modes_side_by_side(tmp_path):
    out = tmp_path / "graphed.json"
    result = run_script("graphed.py", "--quick", "--device", "cpu", "--out", str(out))
    assert json.loads(out.read_text()) == result and result["device"] == "cpu"
    assert [(r["mode"], r["seed"]) for r in result["solve"]] == [("off", 0), ("on", 0), ("off", 1), ("on", 1)]
    assert all(r["capture_s"] is None for r in result["solve"])  # CPU: nothing is captured
    cells = {(r["env"], r["num_envs"], r["mode"]): r for r in result["throughput"]}
    assert set(cells) == {(e, n, m) for e, n in (("cartpole", 256), ("swingup", 64)) for m in ("off", "on")}
    ratio = result["summary"]["graphed_over_eager"]["cartpole/E=256"]
    assert ratio == cells[("cartpole", 256, "on")]["steps_per_s"] / cells[("cartpole", 256, "off")]["steps_per_s"]


def test_step_parts_benchmark_times_each_part():
    result = run_script("step_parts.py", "--steps", "20", "--epochs", "2")
    assert result["preset"] == "cartpole-fast" and result["num_envs"] == 384
    assert all(result[k] > 0 for k in ("sample_us", "env_step_us", "collect_per_step_us", "update_ms"))
    # a rollout step holds one sample and one env step, plus the collector's own work
    assert result["collect_per_step_us"] > 0.5 * (result["sample_us"] + result["env_step_us"])


def test_epoch_cost_times_this_tree_beside_another(tmp_path):
    """--vs with this same checkout: both columns measured, in turns, and the ratio is theirs over ours."""
    out = tmp_path / "epoch.json"
    result = run_script("epoch_cost.py", "--presets", "pendulum-fast", "--epochs", "2", "--rounds", "2",
                        "--vs", str(ROOT), "--out", str(out))
    row = result["ms_per_epoch"]["pendulum-fast"]
    assert row["this"] > 0 and row["vs"] > 0
    assert row["vs_over_this"] == round(row["vs"] / row["this"], 3)
    assert json.loads(out.read_text()) == result


def test_time_to_target_times_a_run_to_cartpole_target(tmp_path):
    out = tmp_path / "ttt.json"
    result = run_script("time_to_target.py", "--algos", "ours", "--envs", "CartPole-v1", "--seeds", "1",
                        "--max-epochs", "400", "--cap-s", "20", "--env-alone", "--out", str(out))
    assert json.loads(out.read_text()) == result
    row = result["envs"]["CartPole-v1"]
    cartpole = row["ours"]
    run = cartpole["runs"][0]
    assert run["reached"] and cartpole["reached"] == "1/1" and run["preset"] == "cartpole-fast"
    assert run["backend"] == "auto" and row["our_backend"] == "preset"
    assert run["process_s"] > run["train_s"] > 0 and cartpole["median_train_s"] == run["train_s"]
    assert run["env_steps"] % (384 * 32) == 0  # whole epochs of the preset's rollouts
    assert "| CartPole-v1 | 475 |" in result["table"]
    # the env stepped alone (Gymnasium's sync vector env at least), beside our whole-training rate
    alone = row["env_alone"]
    assert alone["num_envs"] == 384 and alone["gymnasium_sync"] > 0
    assert cartpole["median_steps_per_s"] == run["env_steps"] / run["train_s"]
    line = result["env_alone_table"].splitlines()[2]
    assert line.startswith(f"| CartPole-v1 | preset | {run['env_steps'] / run['train_s']:,.0f} |")
    assert f"| {alone['gymnasium_sync']:,.0f} |" in line


def test_time_to_solve_runs_a_seed_in_process_and_as_a_whole_process():
    """Issue 16's fast preset: seed 0 of cartpole-fast solves CartPole-v1, in this process and in a fresh one (the
    same epoch: the same seed trains the same way), and the whole process's seconds include its own training."""
    result = run_script("time_to_solve.py", "--seeds", "1")
    ours = result["ours"]
    assert ours["in_process_s"]["solved"] == "1/1" and ours["whole_process_s"]["solved"] == "1/1"
    run, process = ours["runs"][0], ours["process_runs"][0]
    assert run["ep_return_mean"] >= 475 and run["episodes"] >= 20
    assert process["epoch"] == run["epoch"] and process["env_steps"] == run["env_steps"]
    assert process["process_s"] > process["wall_s"] > 0


def test_time_to_target_reports_a_capped_run_as_missed():
    result = run_script("time_to_target.py", "--algos", "ours", "--envs", "Acrobot-v1", "--seeds", "1", "--max-epochs", "2",
                        "--our-backend", "sync")
    acrobot = result["envs"]["Acrobot-v1"]["ours"]
    assert acrobot["runs"][0]["backend"] == "sync" and result["envs"]["Acrobot-v1"]["our_backend"] == "sync"
    assert acrobot["reached"] == "0/1" and acrobot["median_process_s"] is None
    assert acrobot["runs"][0]["last_env_steps"] == 2 * 64 * 16  # stopped by the cap, not by an error
    assert "missed (0/1)" in result["table"]


def test_time_to_target_counts_a_miss_as_slower_than_every_hit():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from time_to_target import Window, median_with_misses
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    hit = lambda s: {"reached": True, "train_s": s}  # noqa: E731
    assert median_with_misses([hit(1.0), hit(3.0), {"reached": False}], "train_s") == 3.0
    assert median_with_misses([hit(1.0), {"reached": False}, {"reached": False}], "train_s") is None
    window = Window(target=10.0)
    window.add([100.0] * 19)
    assert not window.reached()  # fewer than 20 finished episodes never count
    window.add([10.0])
    assert window.reached()
    window.add([-200.0])  # the oldest (100) leaves: mean (18·100 + 10 − 200) / 20 = 80.5
    assert window.reached() and abs(sum(window.returns) / 20 - 80.5) < 1e-12
    window.add([-1000.0] * 2)
    assert not window.reached()


def test_time_to_target_merge_puts_runs_made_apart_in_one_table(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from time_to_target import merge, summarize
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    hit = lambda s, steps: {"reached": True, "process_s": s + 1.5, "train_s": s, "env_steps": steps}  # noqa: E731
    parts = []
    for env_id, target, ours, ppo in (("CartPole-v1", 475.0, 0.2, 6.0), ("LunarLander-v3", 200.0, 30.0, 500.0)):
        part = {"criterion": "c", "loadavg": [1.0, 1.0, 1.0],
                "envs": {env_id: {"target": target, "ours": summarize([hit(ours, 100)]), "ppo": summarize([hit(ppo, 10)])}}}
        path = tmp_path / f"{env_id}.json"
        path.write_text(json.dumps(part))
        parts.append(str(path))
    more = {"criterion": "c", "loadavg": [2.0, 2.0, 2.0],  # two more LunarLander seeds, run apart
            "envs": {"LunarLander-v3": {"target": 200.0, "ours": summarize([hit(10.0, 90), hit(50.0, 300)]),
                                        "ppo": summarize([hit(400.0, 9), hit(600.0, 11)])}}}
    (tmp_path / "more.json").write_text(json.dumps(more))
    merged = merge(parts + [str(tmp_path / "more.json")])
    assert list(merged["envs"]) == ["CartPole-v1", "LunarLander-v3"]
    lunar = merged["envs"]["LunarLander-v3"]
    assert lunar["ours"]["reached"] == "3/3" and lunar["ours"]["median_train_s"] == 30.0  # of 10, 30, 50
    assert lunar["ppo"]["median_train_s"] == 500.0 and len(merged["loadavg"]["LunarLander-v3"]) == 2
    rows = merged["table"].splitlines()[2:]
    assert rows[0].startswith("| CartPole-v1 | 475 |") and rows[0].endswith(f"| {7.5 / 1.7:.1f}× | {6.0 / 0.2:.1f}× |")
    assert rows[1].endswith(f"| {501.5 / 31.5:.1f}× | {500 / 30:.1f}× |")


def test_time_to_target_sets_our_rate_beside_the_env_alone():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from time_to_target import env_alone_table, summarize
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    runs = [{"reached": True, "process_s": 42.0, "train_s": 40.0, "env_steps": 400_000},  # 10k steps/s
            {"reached": True, "process_s": 52.0, "train_s": 50.0, "env_steps": 600_000},  # 12k
            {"reached": False, "last_train_s": 200.0}]  # a miss has no rate
    ours = summarize(runs)
    assert ours["median_steps_per_s"] == 11_000.0
    result = {"envs": {"Hopper-v5": {"our_backend": "envpool", "ours": ours, "env_alone": {
        "num_envs": 16, "gymnasium_sync": 12_000.0, "envpool": 22_000.0, "envpool_1_thread": 20_000.0}},
        "CartPole-v1": {"ours": ours}}}  # no env-alone measurement: no row
    rows = env_alone_table(result).splitlines()[2:]
    assert rows == ["| Hopper-v5 | envpool | 11,000 | 22,000 | 20,000 | 12,000 | 0.50 | 0.55 |"]


def test_compiled_benchmark_runs_both_modes_side_by_side(tmp_path):
    out = tmp_path / "compiled.json"
    result = run_script("compiled.py", "--quick", "--out", str(out))
    assert json.loads(out.read_text()) == result
    assert [(r["case"], r["num_envs"]) for r in result["rows"]] == [("cartpole", 64), ("swingup", 64)]
    for row in result["rows"]:
        assert len(row["compiled"]["epochs_steps_per_s"]) == 3 and row["compiled"]["steps_per_epoch"] == 64 * 8
        assert row["compiled_over_eager"] == row["compiled"]["steps_per_s"] / row["eager"]["steps_per_s"]
    assert result["table"].splitlines()[2].startswith("| cartpole | 64 |")


def test_envpool_gaps_times_the_pool_with_a_busy_caller(tmp_path):
    pytest.importorskip("envpool")  # the envpool extra (CI installs it)
    out = tmp_path / "gaps.json"
    result = run_script("envpool_gaps.py", "--envs", "Hopper-v5:2", "--gaps-us", "0", "2000", "--seconds", "0.1",
                        "--rounds", "1", "--pinned", "--out", str(out))
    assert json.loads(out.read_text()) == result
    rates = result["envs"]["Hopper-v5"]["rates"]
    assert set(rates) == {"default", "1_thread", "pinned"}
    for by_gap in rates.values():
        assert set(by_gap) == {"0us", "2000us"}
        for row in by_gap.values():  # the loop's time includes the pool's, so its rate is never higher
            assert 0 < row["loop"] <= row["pool"]
        # each step of 2 envs is followed by 2 ms of busy work: at most 1,000 env steps a second overall
        assert by_gap["2000us"]["loop"] <= 1000


def test_cpu_layouts_toggles_the_layouts_it_compares(tmp_path):
    out = tmp_path / "layouts.json"
    result = run_script("cpu_layouts.py", "--cases", "swingup:64", "cartpole:64", "--rounds", "2", "--epoch-size", "256",
                        "--out", str(out))
    assert json.loads(out.read_text()) == result
    assert [(r["env"], r["num_envs"], r["steps"]) for r in result["rows"]] == [("swingup", 64, 4), ("cartpole", 64, 4)]
    for row in result["rows"]:
        assert row["on_over_off"] == row["on_steps_per_s"] / row["off_steps_per_s"]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import cpu_layouts
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    from reinforce.policy_base import linear, mlp, rows_per_slice

    x, weight, bias = torch.randn(20_000, 4), torch.randn(2, 4), torch.randn(2)
    try:
        cpu_layouts.switch("layouts", False)  # off: the plain row-major product
        assert linear(x, weight, bias).is_contiguous()
    finally:
        cpu_layouts.switch("layouts", True)
    assert linear(x, weight, bias).stride() == (1, 20_000)  # on: (W xᵀ)ᵀ
    net = mlp(4, 2, (64,))
    try:
        cpu_layouts.switch("slices", False)
        assert rows_per_slice(net, 4) == 0  # off: the whole batch at once
    finally:
        cpu_layouts.switch("slices", True)
    assert rows_per_slice(net, 4) == 2**19 // 64
    from reinforce.policies import CategoricalPolicy

    policy = CategoricalPolicy(4, 2)
    try:
        cpu_layouts.switch("difference", False)
        assert policy.pi(x)._logits.shape == (20_000, 2)  # off: both logits
    finally:
        cpu_layouts.switch("difference", True)
    assert policy.pi(x)._logits is None  # on: z alone
    from reinforce.hotpath import HotPath

    wide = CategoricalPolicy(4, 2, hidden_sizes=(64,))
    seen = []
    pi = wide.pi
    wide.pi = lambda obs, *args: seen.append(obs.shape[0]) or pi(obs, *args)
    try:
        cpu_layouts.switch("sample", False)
        HotPath(wide, None, entropy_grad=False).sample(x)  # off: one call
    finally:
        cpu_layouts.switch("sample", True)
    HotPath(wide, None, entropy_grad=False).sample(x)  # on: 8,192-row slices
    assert seen == [20_000, 8192, 8192, 3616]


def test_cpu_layouts_times_the_update_in_slices(tmp_path):
    # 16 steps of 2048 envs: 32,768 rows, four slices of the swing-up MLP's 8,192
    result = run_script("cpu_layouts.py", "--change", "slices", "--cases", "swingup:2048", "--rounds", "2",
                        "--epoch-size", "32768")
    assert result["change"] == "slices" and [r["steps"] for r in result["rows"]] == [16]
    assert result["rows"][0]["update_slices"] == 4 and result["rows"][0]["on_over_off"] > 0
