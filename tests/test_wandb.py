"""WandbCallback: what reaches W&B (a recording stand-in for the package), and a real offline run's files."""
import sys
import types

import pytest

import reinforce
from reinforce.run.trainer import resume, train
from reinforce.tools.wandb_logger import WandbCallback

SMALL = dict(env_id="CartPole-v1", num_envs=4, steps_per_rollout=16, epochs=3, hidden_sizes=())


class _Run:
    def __init__(self, calls):
        self.calls = calls

    def define_metric(self, name, step_metric):
        self.calls.append(("define_metric", name, step_metric))

    def log(self, data, step=None):
        assert step is None, "W&B drops rows whose step goes back (a resume's replayed epochs): no explicit step"
        self.calls.append(("log", data, data["time/env_steps"]))

    def finish(self):
        self.calls.append(("finish",))


@pytest.fixture
def fake_wandb(monkeypatch):
    calls = []
    module = types.SimpleNamespace(
        init=lambda **kw: calls.append(("init", kw)) or _Run(calls),
        Settings=lambda **kw: ("settings", kw),
    )
    monkeypatch.setitem(sys.modules, "wandb", module)
    return calls


def test_each_epoch_is_logged_on_the_env_step_axis_with_the_config(tmp_path, fake_wandb):
    run = tmp_path / "run"
    history = train(reinforce.Config(**SMALL), run, quiet=True, tensorboard=False,
                    callbacks=[WandbCallback(project="p", run_dir=run, quiet=True)])
    init = fake_wandb[0][1]
    assert ("define_metric", "*", "time/env_steps") in fake_wandb
    assert fake_wandb[0][0] == "init" and init["project"] == "p" and init["config"]["env_id"] == "CartPole-v1"
    assert init["dir"] == str(run) and init["resume"] == "allow" and init["settings"] == ("settings", {"silent": True})
    assert init["id"] == (run / "wandb_id.txt").read_text().strip()
    logs = [c for c in fake_wandb if c[0] == "log"]
    assert [step for _, _, step in logs] == [m["time/env_steps"] for m in history] == [64, 128, 192]
    assert all(set(data) <= set(m) and data["epoch"] == m["epoch"] for (_, data, _), m in zip(logs, history))
    assert fake_wandb[-1] == ("finish",)


def test_a_resumed_run_continues_the_same_wandb_run(tmp_path, fake_wandb):
    run = tmp_path / "run"
    train(reinforce.Config(**SMALL), run, quiet=True, tensorboard=False, callbacks=[WandbCallback(run_dir=run)])
    resume(run, quiet=True, tensorboard=False, epochs=5, callbacks=[WandbCallback(run_dir=run)])
    inits = [c[1] for c in fake_wandb if c[0] == "init"]
    assert len(inits) == 2 and inits[0]["id"] == inits[1]["id"]
    assert [c[2] for c in fake_wandb if c[0] == "log"][-2:] == [256, 320]


def test_without_the_package_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match=r"pip install 'reinforce\[wandb\]'"):
        WandbCallback()


def test_a_real_offline_run_writes_its_files_into_the_run_folder(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the wandb extra (make test and CI install it)")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = tmp_path / "run"
    train(reinforce.Config(**SMALL), run, quiet=True, tensorboard=False,
          callbacks=[WandbCallback(run_dir=run, quiet=True)])
    run_id = (run / "wandb_id.txt").read_text().strip()
    files = list((run / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert len(files) == 1 and files[0].stat().st_size > 0
