"""The CUDA-graph epoch against the eager one, side by side on one device: time to solve and whole-training steps/s.

For `cuda_graph` off and on, in the same process, turn by turn:
  - time to solve CartPole-v1 with the `cartpole-fast` preset (criterion of time_to_solve.py: an epoch with
    >= 20 finished episodes averaging >= 475), in-process training seconds (`time/wall_s`: capture included),
    env steps, and beside it the capture's own seconds;
  - whole-training env steps/s (median of the epochs after the warm-up and capture) of CartPole-v1 with the
    linear policy (T = 64) and of the swing-up with the 64-64 MLP and GAE (`swingup-gae`, T = 256) over E.
On a GPU the graphed epoch is one replay of a captured CUDA graph; on CPU nothing is captured (the smoke test).

    python benchmarks/graphed.py --device cuda --out docs/graphed_gpu.json   # the issue-16 GPU figures (~5 min on an H100)
    python benchmarks/graphed.py --device cuda --compile --out docs/graphed_gpu_compiled.json  # + torch.compile
    python benchmarks/graphed.py --quick                                     # CPU smoke, seconds
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import emit_json  # noqa: E402  (benchmarks/common.py)
from throughput import ENVS, config_steps_per_s  # noqa: E402
from time_to_solve import fast_config, solve  # noqa: E402

from reinforce import presets  # noqa: E402
from reinforce.config import Config  # noqa: E402

MODES = ("off", "on")
SKIP = 3  # epochs left out of the rate: 2 eager warm-up epochs and the capture's


def time_to_solve(device: str, seeds: list[int], compile_: bool = False) -> list[dict]:
    runs = []
    for seed in seeds:
        for mode in MODES:  # turn by turn: the two modes see the same machine
            cfg = fast_config(device=device, cuda_graph=mode, seed=seed, compile=compile_)
            runs.append({"mode": mode, "seed": seed, **solve(cfg)})
    return runs


def rate(cfg: Config, epochs: int) -> dict:
    result, agent = config_steps_per_s(cfg, epochs, warmup=SKIP)
    return {"steps_per_s": result["steps_per_s"], "epochs": epochs,
            "capture_s": None if agent.graphed is None else agent.graphed.capture_s}


def throughput(device: str, grid: dict[str, list[int]], epochs: int, compile_: bool = False) -> list[dict]:
    bases = {
        "cartpole": Config(**ENVS["cartpole"], steps_per_rollout=64, num_threads=None),
        "swingup": dataclasses.replace(presets.preset("swingup-gae"), steps_per_rollout=256, num_threads=None),
    }
    rows = []
    for name, sizes in grid.items():
        for num_envs in sizes:
            for mode in MODES:
                cfg = dataclasses.replace(bases[name], num_envs=num_envs, device=device, cuda_graph=mode, seed=0,
                                          compile=compile_)
                rows.append({"env": name, "num_envs": num_envs, "mode": mode, **rate(cfg, epochs)})
    return rows


def summary(solves: list[dict], rows: list[dict]) -> dict:
    out: dict = {}
    for mode in MODES:
        mine = [r for r in solves if r["mode"] == mode]
        times = sorted(r["wall_s"] if r["solved"] else float("inf") for r in mine)
        captures = [r["capture_s"] for r in mine if r["capture_s"] is not None]
        out[f"solve_{mode}"] = {"median_train_s": statistics.median(times) if times else None,
                                "solved": sum(r["solved"] for r in mine), "seeds": len(mine),
                                "median_capture_s": statistics.median(captures) if captures else None}
    pairs = {(r["env"], r["num_envs"]): {} for r in rows}
    for r in rows:
        pairs[(r["env"], r["num_envs"])][r["mode"]] = r["steps_per_s"]
    out["graphed_over_eager"] = {f"{env}/E={e}": v["on"] / v["off"] for (env, e), v in pairs.items() if v.get("off")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--cartpole-envs", type=int, nargs="*", default=[4096, 65536, 262144, 1048576])
    ap.add_argument("--swingup-envs", type=int, nargs="*", default=[4096, 16384, 65536])
    ap.add_argument("--epochs", type=int, default=10, help="measured epochs per throughput cell")
    ap.add_argument("--quick", action="store_true", help="2 seeds, tiny grids: a smoke test (CPU: seconds)")
    ap.add_argument("--compile", action="store_true",
                    help="Config.compile in both modes: compiled kernels, captured (on) or launched one by one (off)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(1)
    seeds = list(range(2 if args.quick else args.seeds))
    grid = {"cartpole": [256] if args.quick else args.cartpole_envs, "swingup": [64] if args.quick else args.swingup_envs}
    solves = time_to_solve(args.device, seeds, args.compile)
    rows = throughput(args.device, grid, 2 if args.quick else args.epochs, args.compile)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    emit_json({"device": args.device, "device_name": device_name, "torch": torch.__version__, "compile": args.compile,
               "summary": summary(solves, rows), "solve": solves, "throughput": rows}, args.out)


if __name__ == "__main__":
    main()
