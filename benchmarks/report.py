"""Tables (markdown, to stdout) and the log-log plot for docs/benchmarks.md from the benchmark JSON.

    python benchmarks/report.py docs/throughput.json docs/time_to_solve.json --plot docs/throughput.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

LABEL = {"cartpole": "CartPole-v1, linear categorical", "swingup": "CartPoleSwingUp-v0, Gaussian 64-64 MLP"}


def fmt(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.0f}k"
    return f"{x:.0f}"


def throughput_tables(d: dict) -> str:
    out = []
    rows = d["results"]
    for env in ("cartpole", "swingup"):
        env_rows = [r for r in rows if r["env"] == env]
        if not env_rows:
            continue
        grid = sorted({r["num_envs"] for r in env_rows})
        ref = d["references"][env]
        out.append(f"\n**{LABEL[env]}** — whole-training env steps/s (median of the measured epochs); "
                   f"in brackets: × the article's loop ({fmt(ref['article']['steps_per_s'])} steps/s at E = {ref['article']['num_envs']})\n")
        out.append("| backend | " + " | ".join(f"E = {e}" for e in grid) + " |")
        out.append("| --- |" + " --- |" * len(grid))
        for backend in dict.fromkeys(r["backend"] for r in env_rows):
            cells = []
            for e in grid:
                r = next((r for r in env_rows if r["backend"] == backend and r["num_envs"] == e), None)
                cells.append(f"{fmt(r['steps_per_s'])} ({r['x_article']:.0f}×)" if r and r['x_article'] >= 10 else
                             f"{fmt(r['steps_per_s'])} ({r['x_article']:.1f}×)" if r else "—")
            out.append(f"| {backend} | " + " | ".join(cells) + " |")
        out.append("| T (steps per env per epoch) | " + " | ".join(
            "/".join(str(t) for t in sorted({r["steps"] for r in env_rows if r["num_envs"] == e}, reverse=True)) for e in grid) + " |")
        if "raw_numpy" in ref:
            out.append("| *raw batched numpy CartPole, random actions, no learning* | " + " | ".join(
                fmt(ref["raw_numpy"][str(e)]) if str(e) in ref["raw_numpy"] else "—" for e in grid) + " |")
            out.append("| *Gymnasium's numpy CartPole (`vector_entry_point`), random actions* | " + " | ".join(
                fmt(ref["gymnasium_vector"][str(e)]) if str(e) in ref["gymnasium_vector"] else "—" for e in grid) + " |")
            nat = {r["num_envs"]: r for r in env_rows if r["backend"] == "native"}
            out.append("| native ÷ raw numpy, same E | " + " | ".join(
                f"{nat[e]['of_raw_numpy_same_E']:.2f}" if e in nat else "—" for e in grid) + " |")
    return "\n".join(out)


def tts_table(d: dict) -> str:
    o = d["ours"]
    out = ["| | solved | median | min | max |", "| --- | --- | --- | --- | --- |"]
    for name, s in (("ours, in-process s", o["in_process_s"]), ("ours, whole process s", o["whole_process_s"]),
                    ("ours, env steps", o["env_steps"]), ("ours, epochs (0-based)", o["epochs"])):
        out.append(f"| {name} | {s['solved']} | " + " | ".join(
            "—" if s[k] is None else (f"{s[k]:,.0f}" if s[k] > 100 else f"{s[k]:.2f}") for k in ("median", "min", "max")) + " |")
    for algo in ("ppo", "a2c"):
        r = d.get(f"sb3_{algo}")
        if isinstance(r, dict):
            for what, key in (("s", "wall_s"), ("env steps", "env_steps")):
                s = r[key]
                out.append(f"| SB3 {algo.upper()} (rl-zoo), {what} | {s['solved']} | " + " | ".join(
                    "—" if s[k] is None else (f"{s[k]:,.0f}" if s[k] > 100 else f"{s[k]:.2f}") for k in ("median", "min", "max")) + " |")
    return "\n".join(out)


def plot(d: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for ax, env in zip(axes, ("cartpole", "swingup")):
        rows = [r for r in d["results"] if r["env"] == env]
        for backend in dict.fromkeys(r["backend"] for r in rows):
            pts = sorted((r["num_envs"], r["steps_per_s"]) for r in rows if r["backend"] == backend)
            ax.plot(*zip(*pts), marker="o", label=f"{backend} (whole training)")
        ref = d["references"].get(env, {})
        if "raw_numpy" in ref:
            pts = sorted((int(e), v) for e, v in ref["raw_numpy"].items())
            ax.plot(*zip(*pts), "k--", marker=".", label="raw numpy stepping (no policy)")
            pts = sorted((int(e), v) for e, v in ref["gymnasium_vector"].items())
            ax.plot(*zip(*pts), ":", color="gray", marker=".", label="Gymnasium vector_entry_point (no policy)")
        if "article" in ref:
            ax.scatter([ref["article"]["num_envs"]], [ref["article"]["steps_per_s"]], marker="*", s=160, color="crimson",
                       zorder=5, label="article's loop (whole training)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("parallel envs E")
        ax.set_title(LABEL[env])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7.5)
    axes[0].set_ylabel("env steps / s")
    fig.suptitle(f"{d['machine']['cpus']} CPU cores (shared), torch threads = {d['threads']['chosen']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("throughput")
    ap.add_argument("time_to_solve", nargs="?")
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()
    d = json.loads(Path(args.throughput).read_text())
    print(throughput_tables(d))
    if args.time_to_solve and Path(args.time_to_solve).exists():
        print()
        print(tts_table(json.loads(Path(args.time_to_solve).read_text())))
    if args.plot:
        plot(d, args.plot)


if __name__ == "__main__":
    main()
