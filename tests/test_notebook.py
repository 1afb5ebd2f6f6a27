"""examples/walkthrough.ipynb runs top to bottom (tiny budgets) without an error."""
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "walkthrough.ipynb"


def test_walkthrough_notebook_executes(tmp_path, monkeypatch):
    monkeypatch.setenv("REINFORCE_WALKTHROUGH_SMALL", "1")  # the kernel inherits it: CI budgets
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    text = "".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )
    assert "budget: CI (tiny)" in text and "|estimate - exact|" in text
    assert "stochastic policy after" in text  # the last cell: the evaluation table
    assert (tmp_path / "runs" / "walkthrough" / "cartpole-seeds.png").exists()
