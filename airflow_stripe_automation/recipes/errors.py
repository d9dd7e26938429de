"""The error a broken recipe raises: which file, which field, what is wrong — one line per problem.

A recipe error goes to the DAG processor's import errors, the UI and logs: anything in it that looks
like a Stripe secret (``sk_live_…``, ``rk_test_…``, ``whsec_…``), pasted into a recipe field by
mistake, is masked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_stripe_automation.masking import holds_secret, mask_secrets

__all__ = ["FieldPath", "Problem", "RecipeError", "find_secrets", "format_path", "mask_secrets"]

#: A field's location in a recipe: keys and list indexes, e.g. ("steps", 0, "with", "amount").
FieldPath = tuple[str | int, ...]


def find_secrets(data: Any, path: FieldPath = ()) -> list[FieldPath]:
    """
    Where ``data`` (a recipe, parsed) holds what looks like a Stripe secret: in a value, or in a key.

    :param data: the recipe's data, or a part of it
    :param path: where ``data`` is in the recipe
    """
    if isinstance(data, str):
        return [path] if holds_secret(data) else []
    found: list[FieldPath] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            here = (*path, key)
            if isinstance(key, str) and holds_secret(key):
                found.append(here)
            else:
                found += find_secrets(value, here)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += find_secrets(value, (*path, index))
    return found


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

    def __post_init__(self) -> None:
        # A field's value (or a key) may be echoed in the message: never a secret.
        object.__setattr__(self, "path", tuple(mask_secrets(p) if isinstance(p, str) else p for p in self.path))
        object.__setattr__(self, "message", mask_secrets(self.message))

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
