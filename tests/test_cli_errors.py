"""The command line as a newcomer meets it: one-line errors with a --help hint, no abbreviations,
--version, a closed pipe, help for every flag, `reinforce presets`, settings for an env without a
preset, run folders that never overwrite one another, and the papercuts of --resume and --quiet."""
import argparse
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import reinforce
from reinforce import config as config_mod
from reinforce import presets
from reinforce.cli import main
from reinforce.cliparse import parser

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--num-envs", "2", "--steps-per-rollout", "20", "--epochs", "1", "--no-tensorboard", "--no-plot"]


def cli(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reinforce", *argv], capture_output=True, text=True, timeout=120, **kwargs)


def one_line(err: str) -> str:
    assert "Traceback" not in err and "usage:" not in err and err.count("\n") == 1, err
    assert err.startswith("reinforce: error: "), err
    return err


# -- argparse: one line and a hint, no abbreviations, --version ------------------------------------------
def test_an_unknown_flag_is_one_line_with_a_help_hint():
    result = cli("train", "--bogus")
    assert result.returncode == 2
    assert one_line(result.stderr) == "reinforce: error: unrecognized arguments: --bogus (see reinforce train --help)\n"


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--epoch", "3"], ["unrecognized arguments: --epoch", "did you mean --epochs?", "reinforce train --help"]),
        (["train", "--lr", "fast"], ["argument --lr", "'fast'", "reinforce train --help"]),
        (["train", "--preset", "cartpol"], ["invalid choice: 'cartpol'", "reinforce train --help"]),
        (["evaluate"], ["required: RUN_DIR", "reinforce evaluate --help"]),
        (["trian"], ["invalid choice: 'trian'", "reinforce --help"]),
        ([], ["required: COMMAND", "reinforce --help"]),
    ],
)
def test_usage_errors_are_one_line_and_abbreviations_are_refused(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = one_line(capsys.readouterr().err)
    assert all(w in err for w in words), err


def test_version_prints_the_package_version():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout == f"reinforce {reinforce.__version__}\n" and result.stderr == ""


# -- a closed pipe: `reinforce evaluate RUN | head -2` ------------------------------------------------------
def run_into_closed_pipe(*argv) -> subprocess.CompletedProcess:
    """Run the CLI with stdout a pipe whose reader has already gone, as `| head` leaves it."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "reinforce", *argv], stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)


@pytest.mark.parametrize("argv", [["presets"], ["--help"], ["train", "--help"]])
def test_a_closed_stdout_exits_quietly(argv):
    result = run_into_closed_pipe(*argv)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_evaluate_into_a_closed_pipe_exits_quietly(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--quiet", "--out", str(run)]) == 0
    result = run_into_closed_pipe("evaluate", str(run), "--episodes", "2")
    assert result.returncode == 0 and result.stderr == "", result.stderr


# -- help: every flag, the presets, an example -----------------------------------------------------------
def all_parsers(p: argparse.ArgumentParser):
    yield p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from all_parsers(sub)


def test_every_flag_has_a_help_text():
    missing = [
        f"{p.prog} {'/'.join(a.option_strings) or a.dest}"
        for p in all_parsers(parser())
        for a in p._actions
        if not isinstance(a, argparse._HelpAction) and (not a.help or a.help == argparse.SUPPRESS)
    ]
    assert not missing, missing


def test_train_help_lists_the_presets_and_an_example():
    result = cli("train", "--help")
    assert result.returncode == 0
    for name, cfg in presets.PRESETS.items():
        assert any(line.split() == [name, cfg.env_id] for line in result.stdout.splitlines()), name
    assert "examples:" in result.stdout and "reinforce train --env Pendulum-v1" in result.stdout
    assert "--overwrite" in result.stdout


# -- reinforce presets ---------------------------------------------------------------------------------
def test_presets_command_lists_every_preset_without_torch():
    code = (
        "import sys, reinforce.cli\n"
        "assert reinforce.cli.main(['presets']) == 0\n"
        "assert 'torch' not in sys.modules, 'reinforce presets loaded torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert rows["preset"][:3] == ["preset", "env", "envs"]
    for name, c in presets.PRESETS.items():
        row = rows[name]
        assert row[1:5] == [c.env_id, str(c.num_envs), str(c.steps_per_rollout), str(c.epochs)]
        assert row[6:9] == [f"{c.lr:g}", f"{c.gamma:g}", c.baseline]
    assert rows["cartpole"][-1] == "linear" and rows["swingup"][-2:] == ["64-64", "relu"]
    assert rows["(none)"][-2:] == ["64-64", "tanh"]  # the defaults for any env


def test_argument_errors_and_plot_never_import_torch(tmp_path):
    """A wrong flag value, a bad config key and `plot` of a run folder answer without `import torch` (1-2 s)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text('env_id = "CartPole-v1"\n')
    (run / "metrics.csv").write_text("epoch,time/env_steps,time/wall_s,rollout/ep_return_mean\n0,100,0.1,20\n1,200,0.2,30\n")
    code = (
        "import sys, reinforce.cli\n"
        "assert reinforce.cli.main(['train', '--gamma', '2']) == 2\n"
        "assert reinforce.cli.main(['train', 'lrr=0.1']) == 2\n"
        f"assert reinforce.cli.main(['plot', {str(run)!r}, '--out', {str(tmp_path / 'c.png')!r}]) == 0\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:3]\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "gamma must be in [0, 1]" in result.stderr and (tmp_path / "c.png").exists()


# -- --env without --preset --------------------------------------------------------------------------------
def resolved(*argv) -> config_mod.Config:
    from reinforce.cliflags import resolve_config

    args, extra = parser().parse_known_args(["train", *argv])
    args.overrides = [*args.overrides, *extra]
    return resolve_config(args)


def test_env_without_a_preset_takes_the_defaults_for_any_env_not_cartpoles():
    for argv in (["--env", "Pendulum-v1"], ["env_id=Pendulum-v1"]):
        cfg = resolved(*argv)
        assert cfg == presets.defaults_for_env("Pendulum-v1")
        assert (cfg.hidden_sizes, cfg.activation, cfg.lr, cfg.baseline) == ((64, 64), "tanh", 3e-3, "gae")
        assert cfg.normalize_advantages and cfg.normalize_observations and not cfg.reset_each_epoch
        assert 0.9e6 <= cfg.num_envs * cfg.steps_per_rollout * cfg.epochs <= 1.1e6
    assert resolved("--env", "Pendulum-v1", "--lr", "0.01").lr == 0.01  # flags still override
    assert resolved() == presets.preset("cartpole")  # neither --env nor --preset: the article's experiment
    assert resolved("--preset", "cartpole", "--env", "CartPole-v1").hidden_sizes == ()  # a preset stays a preset


def test_env_without_a_preset_says_its_settings_and_names_its_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--env", "Pendulum-v1", *TINY]) == 0
    out = capsys.readouterr().out
    assert "no --preset given: training Pendulum-v1 with GAE baseline, 64-64 tanh MLP, lr 0.003" in out
    assert "see reinforce presets" in out
    cfg = config_mod.load(tmp_path / "runs" / "Pendulum-v1-seed0")
    assert (cfg.env_id, cfg.hidden_sizes, cfg.lr) == ("Pendulum-v1", (64, 64), 3e-3)
    assert not (tmp_path / "runs" / "cartpole-seed0").exists()
    # --quiet: the summary line only
    assert main(["train", "--env", "Pendulum-v1", *TINY, "--quiet", "--out", "q"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    # rank 0 of --nproc 2 says the job's batch is twice the settings'
    from reinforce.clitrain import defaults_notice

    two = defaults_notice(config_mod.load(tmp_path / "q"), 2)
    assert "2 envs x" in two and "; 2 processes: 2x the envs and env steps (the defaults" in two
    assert "processes" not in defaults_notice(config_mod.load(tmp_path / "q"), 1)


@pytest.mark.parametrize("argv, message", [
    (["--max-restarts", "2"], "--max-restarts restarts the processes of --nproc N; give --nproc too"),
    (["--jobs", "2"], "--jobs sets how many --seeds train at once; give --seeds too"),
])
def test_a_flag_for_another_mode_is_refused_not_ignored(tmp_path, capsys, argv, message):
    assert main(["train", *TINY, "--out", str(tmp_path / "r"), *argv]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_a_preset_with_another_env_is_named_after_both(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--preset", "cartpole", "--env", "CartPole-v1", *TINY, "--quiet"]) == 0
    assert (tmp_path / "runs" / "cartpole-CartPole-v1-seed0" / "config.toml").exists()


def test_a_flag_and_a_key_value_for_one_setting_must_agree(tmp_path, capsys):
    """Every config flag against a KEY=VALUE of the same setting: two values are an error naming both (neither
    wins silently), one value given twice is fine, with a preset or a --config file alike."""
    from reinforce.cliparse import subparser

    train = subparser(parser(), "train")
    fields = {f.name for f in dataclasses.fields(config_mod.Config)}
    checked = set()
    for action in train._actions:
        if action.dest not in fields or not action.option_strings:
            continue
        flag = action.option_strings[0]
        if isinstance(action, argparse.BooleanOptionalAction):
            argv, override = [flag], f"{action.dest}=false"
        elif isinstance(action, argparse._AppendAction):
            argv, override = [flag, "a"], f'{action.dest}=["b"]'
        else:
            argv, override = [flag, "3"], f"{action.dest}=4"
        with pytest.raises(ValueError, match=re.escape(f" and {override} both set {action.dest}; give one")):
            resolved(*argv, override)
        checked.add(action.dest)
    assert checked == fields  # every Config field has a flag, and each was checked
    assert resolved("--epochs", "2", "epochs=2", "--hidden-sizes", "64,64", "hidden_sizes=[64, 64]", "--lr", "0.05",
                    "lr=5e-2", "--normalize-observations", "normalize_observations=true").epochs == 2
    config = tmp_path / "run.toml"
    config_mod.save(presets.preset("cartpole"), config)
    assert resolved("--config", str(config), "--epochs", "3", "epochs=3").epochs == 3
    with pytest.raises(ValueError, match="--no-squash and squash=true both set squash"):
        resolved("--config", str(config), "squash=true", "--no-squash")
    # the QA's command line: it trained 2 epochs, KEY=VALUE silently winning
    assert main(["train", "--preset", "cartpole", "epochs=2", "--epochs", "1", "--out", str(tmp_path / "r")]) == 2
    assert "--epochs 1 and epochs=2 both set epochs; give one" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "r").exists()


# -- run folders never overwrite one another ----------------------------------------------------------
def test_the_default_folder_never_overwrites_a_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY]) == 0
    first = (tmp_path / "runs" / "cartpole-seed0" / "metrics.csv").read_text()
    assert main(["train", *TINY, "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "runs/cartpole-seed0 holds another run; this one goes to runs/cartpole-seed0-2" in out
    assert (tmp_path / "runs" / "cartpole-seed0" / "metrics.csv").read_text() == first
    assert (tmp_path / "runs" / "cartpole-seed0-2" / "metrics.csv").exists()


def test_an_explicit_out_with_files_needs_overwrite(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "metrics.csv").write_text("epoch\n0\n")
    assert main(["train", *TINY, "--quiet", "--out", str(out)]) == 2
    assert "already exists" in one_line(capsys.readouterr().err)
    assert (out / "metrics.csv").read_text() == "epoch\n0\n"
    assert main(["train", *TINY, "--quiet", "--out", str(out), "--overwrite"]) == 0
    assert (out / "policy.pt").exists()


def test_seeds_default_root_leaves_make_runs_folder_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_run = tmp_path / "runs" / "cartpole"  # what `make run` writes: --out runs/cartpole --force
    make_run.mkdir(parents=True)
    (make_run / "curve.png").write_bytes(b"make run's curve")
    assert main(["train", "--seeds", "0-1", "--jobs", "2", *TINY[:4], "--epochs", "2", "--no-tensorboard"]) == 0
    assert (make_run / "curve.png").read_bytes() == b"make run's curve"
    assert not (make_run / "seed0").exists()
    assert (tmp_path / "runs" / "cartpole-2" / "seed1" / "metrics.csv").exists()


# -- papercuts -----------------------------------------------------------------------------------------
def test_resume_with_fewer_epochs_than_done_is_refused_and_config_kept(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY[:4], "--epochs", "3", "--checkpoint-every", "1", "--quiet", "--no-tensorboard", "--out", str(run)]) == 0
    before = (run / "config.toml").read_bytes()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 2
    err = one_line(capsys.readouterr().err)
    assert "already trained 3 epochs" in err and "--epochs 3" in err
    assert (run / "config.toml").read_bytes() == before


def test_quiet_hides_deprecation_warnings():
    code = (
        "import sys, warnings, reinforce.cli as cli\n"
        "def old(args):\n"
        "    warnings.warn('this API is old', DeprecationWarning)\n"
        "    return 0\n"
        "cli.COMMANDS['train'] = old\n"
        "sys.exit(cli.main(['train', *sys.argv[1:]]))\n"
    )

    def stderr(*argv):
        result = subprocess.run([sys.executable, "-W", "default", "-c", code, *argv], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0
        return result.stderr

    assert "this API is old" in stderr()
    assert stderr("--quiet") == ""


def test_quiet_hides_every_warning_and_without_it_they_stay():
    """README: --quiet prints the summary line only; a UserWarning (a dropped text observation, an image env's
    normalize_observations) is one `reinforce: UserWarning:` line without it. A seed process (run --quiet by
    train --seeds) of a parent without --quiet keeps its warnings (REINFORCE_KEEP_WARNINGS)."""
    code = (
        "import sys, warnings, reinforce.cli as cli\n"
        "def noisy(args):\n"
        "    warnings.warn('observation parts mission are not numbers')\n"
        "    warnings.warn('normalize_observations applies to vector observations', RuntimeWarning)\n"
        "    return 0\n"
        "cli.COMMANDS['train'] = noisy\n"
        "sys.exit(cli.main(['train', *sys.argv[1:]]))\n"
    )

    def stderr(*argv, **env):
        result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                                env={**os.environ, **env})
        assert result.returncode == 0, result.stderr
        return result.stderr

    loud = stderr()
    assert "reinforce: UserWarning: observation parts mission" in loud and "reinforce: RuntimeWarning: " in loud
    assert stderr("--quiet") == ""
    assert stderr("--quiet", REINFORCE_KEEP_WARNINGS="1") == loud


def test_seed_processes_keep_their_warnings_unless_the_parent_is_quiet(tmp_path, monkeypatch, capsys):
    import reinforce.tools.seeds as seeds

    seen = []

    class Failed:  # a seed process that exits at once, with code 1
        returncode = 1

        def poll(self):
            return 1

    def popen(command, env, **kwargs):  # what each seed process would be started with
        seen.append((command.count("--quiet"), env.get(seeds.KEEP_WARNINGS)))
        return Failed()

    monkeypatch.delenv(seeds.KEEP_WARNINGS, raising=False)
    monkeypatch.setattr(seeds.subprocess, "Popen", popen)
    main(["train", "--seeds", "0", *TINY, "--out", str(tmp_path / "loud")])
    main(["train", "--seeds", "0", *TINY, "--out", str(tmp_path / "quiet"), "--quiet"])
    main(["train", "--resume", str(tmp_path / "loud")])
    assert seen == [(1, "1"), (1, None), (1, "1")] and seeds.KEEP_WARNINGS not in os.environ


def test_a_write_failure_exits_1(monkeypatch, capsys):
    from reinforce import cli
    from reinforce.run.folder import RunWriteError

    def full_disk(args):
        raise RunWriteError(28, "No space left on device (errno 28) writing runs/x/metrics.csv")

    monkeypatch.setitem(cli.COMMANDS, "presets", full_disk)
    assert main(["presets"]) == 1
    assert "errno 28" in one_line(capsys.readouterr().err)


def test_the_readme_config_example_is_valid():
    cfg = config_mod.load(ROOT / "examples" / "run.toml")
    assert cfg.env_id == "CartPole-v1" and cfg.hidden_sizes == (64, 64)
