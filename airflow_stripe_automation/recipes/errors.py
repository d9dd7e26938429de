"""The error a broken recipe raises: which file, which field, what is wrong — one line per problem."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: A field's location in a recipe: keys and list indexes, e.g. ("steps", 0, "with", "amount").
FieldPath = tuple[str | int, ...]


def format_path(path: Sequence[str | int]) -> str:
    """``("steps", 0, "with", "amount")`` -> ``steps[0].with.amount`` (``(recipe)`` for the whole file)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(recipe)"


@dataclass(frozen=True)
class Problem:
    """
    One thing wrong in a recipe.

    :param path: where, as keys and list indexes
    :param message: what is wrong, in words an ops person can act on
    :param line: the line in the file (1-based), when known
    """

    path: FieldPath
    message: str
    line: int | None = None

    def format(self, file: str) -> str:
        where = f"{file}, line {self.line}" if self.line else file
        return f"{where}: {format_path(self.path)}: {self.message}"


class RecipeError(ValueError):
    """
    A recipe file that cannot become a DAG. Airflow records it as the import error of the recipe's entry file.

    :param file: the recipe file
    :param problems: what is wrong, one per field
    """

    def __init__(self, file: str | Path, problems: Iterable[Problem]) -> None:
        self.file = str(file)
        self.problems = list(problems)
        super().__init__("\n".join(p.format(self.file) for p in self.problems))
