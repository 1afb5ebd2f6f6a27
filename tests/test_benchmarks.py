"""Benchmark scripts run end to end with tiny budgets and print the JSON their docs quote."""
import json
import subprocess
import sys
from pathlib import Path

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
