"""docs/recipes.md stays true to the shipped DAGs: every example DAG, its recipe file and each of its params."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO


def test_the_recipes_doc_names_every_example_dag_its_recipe_file_and_its_params(dag_bag):
    rows = {}
    for line in (REPO / "docs" / "recipes.md").read_text().splitlines():
        if match := re.match(r"\| (R\d+) \| `(\w+)` \| `([\w.]+)` \|", line):
            rows[match[2]] = (match[1], match[3], line)
    examples = {
        dag_id: dag
        for dag_id, dag in dag_bag.items()
        if any(t.startswith("recipe:") for t in dag.tags) and Path(dag.fileloc).parent == REPO / "example_dags"
    }
    assert set(rows) == set(examples)
    for dag_id, dag in examples.items():
        recipe, recipe_file, line = rows[dag_id]
        assert f"recipe:{recipe}" in dag.tags, dag_id
        assert (REPO / "dags" / recipe_file).is_file(), recipe_file
        missing = [name for name in dag.params if f"`{name}`" not in line]
        assert not missing, f"{dag_id}: params {missing} not in docs/recipes.md"
