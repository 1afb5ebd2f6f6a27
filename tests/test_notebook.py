"""examples/walkthrough.ipynb: runs top to bottom (tiny budgets) without an error, uses only public names,
and ships with its (small) outputs."""
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "walkthrough.ipynb"


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def output_text(notebook):
    return "".join(output.get("text", "") for cell in code_cells(notebook) for output in cell.outputs)


def test_walkthrough_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("REINFORCE_WALKTHROUGH_SMALL", "1")  # the kernel inherits it: CI budgets
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    text = output_text(notebook)
    assert "budget: CI (tiny)" in text and "|estimate - exact|" in text
    assert not re.search(r"(?<!\w)_[A-Z]\w+", text)  # no private class shown (a distribution's class name once was)
    # the variance demonstration: one measured total variance per estimator, and its bar chart
    for name in ("total return G_0", "reward-to-go G_t", "G_t - mean baseline"):
        assert re.search(rf"{re.escape(name)} +\d+\.\d+ +\d+\.\d+x", text), name
    assert (tmp_path / "runs" / "walkthrough" / "gradient-variance.png").exists()
    assert "mean return per epoch:" in text  # the learned policy's return curve
    assert "stochastic policy after" in text  # the last cell: the evaluation table
    assert (tmp_path / "runs" / "walkthrough" / "cartpole-seeds.png").exists()


def test_walkthrough_uses_public_names_only():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in code_cells(notebook):
        assert not re.search(r"(?<!\w)_[A-Za-z]", cell.source), cell.source  # no _private names in the code
    assert not re.search(r"(?<!\w)_[A-Z]\w+", output_text(notebook))  # nor a private class in what it prints
    assert "_TwoActionCategorical" not in NOTEBOOK.read_text()


def test_walkthrough_ships_with_small_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(cell.outputs for cell in code_cells(notebook)), "every code cell shows its output"
    images = [o for cell in code_cells(notebook) for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # the variance bars, two learning curves, the seeds' band
    assert "budget: CI (tiny)" in output_text(notebook) and "stochastic policy after" in output_text(notebook)
    assert NOTEBOOK.stat().st_size < 300_000
