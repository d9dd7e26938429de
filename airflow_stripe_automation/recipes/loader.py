"""Read a recipe file: safe YAML with line numbers, checked against the published JSON Schema.

Only plain YAML data is read (no tags, no Python objects), with YAML 1.2's booleans (``true``/``false``
only, so a country code ``NO`` stays a string) and dates left as text. Anchors and aliases
(``&still_open`` … ``*still_open``) are read, but a recipe that would expand through them to more
than :data:`MAX_EXPANDED_VALUES` values (an alias bomb: a few hundred bytes, a billion values) or
that holds itself is refused before anything is expanded. Every problem is reported with the file,
the line, the field (``steps[0].with.amount``) and what is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from airflow_stripe_automation.recipes.errors import FieldPath, Problem, RecipeError
from airflow_stripe_automation.suggestions import did_you_mean

#: The published JSON Schema of recipe files (shipped in the package).
SCHEMA_PATH = Path(__file__).with_name("recipe.schema.json")

_YAML_12_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
#: The most values (mappings, lists, scalars, keys) a recipe may hold once its aliases are copied in;
#: the twelve shipped recipes hold a few hundred each.
MAX_EXPANDED_VALUES = 10_000


# libyaml's parser when PyYAML was built with it (the wheels are): the DAG processor parses every
# recipe again and again, and the pure-Python parser was a quarter of a recipe's parse time. Both
# give the same nodes, with the line marks the error messages use.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _RecipeYamlLoader(_SafeLoader):  # type: ignore[valid-type,misc]  # a variable base: mypy cannot follow
    """The safe loader with YAML 1.2 booleans and no implicit timestamps."""


_RecipeYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RecipeYamlLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _YAML_12_BOOL, list("tTfF"))


@dataclass(frozen=True)
class Recipe:
    """
    A recipe file, read and checked against the schema.

    :param path: the file
    :param data: its content
    :param source: its text
    :param lines: field path -> line number (1-based), for messages
    """

    path: Path
    data: dict[str, Any]
    source: str
    lines: dict[FieldPath, int] = field(default_factory=dict, repr=False)

    @property
    def stem(self) -> str:
        return self.path.stem

    def line(self, path: FieldPath) -> int | None:
        """The line of ``path``, or of its nearest enclosing field."""
        path = tuple(path)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def problem(self, path: FieldPath, message: str) -> Problem:
        """A problem at ``path``, with its line."""
        return Problem(tuple(path), message, self.line(path))


def load_recipe(path: str | Path) -> Recipe:
    """
    Read and check a recipe file; raise :class:`RecipeError` naming the file, line and field.

    :param path: the ``.yaml`` file
    """
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RecipeError(path, [Problem((), f"cannot read the file: {err}")]) from None
    return parse_recipe(source, path)


def parse_recipe(source: str, path: str | Path = "<recipe>") -> Recipe:
    """
    Check recipe text against the schema; raise :class:`RecipeError` naming the file, line and field.

    :param source: the YAML text
    :param path: the file it comes from, for messages
    """
    path = Path(path)
    data, lines = _read_yaml(source, path)
    recipe = Recipe(path=path, data=data, source=source, lines=lines)
    problems = schema_problems(recipe)
    if problems:
        raise RecipeError(path, problems)
    return recipe


def _read_yaml(source: str, path: Path) -> tuple[dict[str, Any], dict[FieldPath, int]]:
    loader = _RecipeYamlLoader(source)
    try:
        node = loader.get_single_node()
        lines: dict[FieldPath, int] = {}
        duplicates: list[Problem] = []
        if node is not None:
            _refuse_alias_bombs(node, path)  # before anything walks the document with its aliases copied in
            _index_lines(node, (), lines, duplicates)
        if duplicates:
            raise RecipeError(path, duplicates)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(str(p) for p in (err.context, err.problem) if p)
        raise RecipeError(path, [Problem((), f"not valid YAML: {what}", line)]) from None
    except yaml.YAMLError as err:
        raise RecipeError(path, [Problem((), f"not valid YAML: {err}")]) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise RecipeError(
            path, [Problem((), f"a recipe is a mapping of fields (trigger, steps, …); the file is {kind}", 1)]
        )
    return data, lines


def _refuse_alias_bombs(root: yaml.Node, path: Path) -> None:
    """
    Refuse a document holding itself, or expanding to more than MAX_EXPANDED_VALUES values through its aliases.

    The composed document is a graph: an alias is the anchored node itself, not a copy. Each node's
    expanded size is counted once (children first, without recursion), so the count costs what the
    file holds, never what it would expand to.
    """
    sizes: dict[int, int] = {}  # id(node) -> values in it once expanded
    ancestors: set[int] = set()  # the nodes being counted, which hold the current one
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_counted = stack.pop()
        children = _children(node)
        if children_counted:
            ancestors.discard(id(node))
            sizes[id(node)] = size = 1 + sum(sizes[id(child)] for child in children)
            if size > MAX_EXPANDED_VALUES:
                message = (
                    f"the aliases (*name) here expand to more than {MAX_EXPANDED_VALUES} values; a recipe "
                    "is far smaller, so it is refused without being expanded (an alias bomb?): write "
                    "the values out, or use fewer aliases"
                )
                raise RecipeError(path, [Problem((), message, node.start_mark.line + 1)])
            continue
        if id(node) in sizes:
            continue
        ancestors.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in ancestors:
                message = (
                    "the list or mapping anchored here holds an alias (*name) to itself: a recipe cannot hold itself"
                )
                raise RecipeError(path, [Problem((), message, child.start_mark.line + 1)])
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _index_lines(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int], duplicates: list[Problem]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                # A list or mapping as a key names no field: constructing the document refuses it
                # ("found unhashable key", with its line), so it is not indexed nor compared here.
                continue
            key: str = key_node.value  # a scalar node's value is its text
            if key in seen:
                line = key_node.start_mark.line + 1
                duplicates.append(
                    Problem((*path, key), "this field appears twice; YAML would silently keep only the last", line)
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), lines, duplicates)


@cache
def recipe_schema() -> dict[str, Any]:
    """The recipe JSON Schema (``recipe.schema.json``)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(recipe_schema())


def schema_problems(recipe: Recipe) -> list[Problem]:
    """Every place where ``recipe`` breaks the schema, in file order, in words."""
    problems: dict[tuple[FieldPath, str], Problem] = {}
    for error in _validator().iter_errors(recipe.data):
        for path, message in _explain(error, recipe.data):
            problems.setdefault((path, message), recipe.problem(path, message))
    return sorted(problems.values(), key=lambda p: (p.line or 0, [str(x) for x in p.path]))


# Fields a `false` subschema forbids: on an external trigger, on a condition, on an action.
_NOT_FOR_EXTERNAL: tuple[str, ...] = ("id", "name", "group", "with", "mode", "poll_interval")
_NOT_FOR_GATE: tuple[str, ...] = ("with",)
_NOT_FOR_ACTION: tuple[str, ...] = ("object", "if")


def _explain(error: Any, data: Any) -> list[tuple[FieldPath, str]]:
    """Turn one jsonschema error into (field path, message) pairs an ops person can act on."""
    path: FieldPath = tuple(error.absolute_path)
    kind, schema, value = error.validator, error.schema, error.instance
    custom = schema.get("x-message") if isinstance(schema, dict) else None
    if kind == "required":
        missing = error.validator_value
        name = next((m for m in missing if isinstance(value, dict) and m not in value), missing[0])
        return [(path, f"missing required field {name!r}")]
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(schema.get("properties", {}))
        out = []
        for extra in sorted(set(value) - set(allowed), key=str):
            out.append(((*path, extra), f"unknown field {extra!r}{_suggest(str(extra), allowed, 'fields')}"))
        return out
    if kind == "propertyNames":
        return [(path, f"{value!r}: names {_IDENTIFIER_WORDS}")]
    if kind == "enum":
        choices = [str(c) for c in error.validator_value]
        return [(path, f"{value!r} is not one of {', '.join(choices)}{_suggest(str(value), choices)}")]
    if kind == "const":
        return [(path, f"must be {error.validator_value!r}")]
    if kind is None or schema is False:
        # A `false` subschema (a field not allowed here); jsonschema reports it on the parent.
        parent = _at(data, path)
        if path[:1] == ("trigger",):
            fields, why = _NOT_FOR_EXTERNAL, "for an external trigger (the run's conf and params are the input)"
        elif isinstance(parent, dict) and parent.get("type") == "continue_if":
            fields, why = _NOT_FOR_GATE, "for continue_if (it takes object and if)"
        else:
            fields = _NOT_FOR_ACTION
            why = (
                "for this step type (object and if belong to continue_if; an action's own condition goes in its 'with')"
            )
        present = [f for f in fields if isinstance(parent, dict) and f in parent]
        return [((*path, f), f"not allowed here {why}") for f in present] or [(path, f"not allowed {why}")]
    if kind == "anyOf" and _all_required(schema.get("anyOf", [])):
        names = " or ".join(repr(s["required"][0]) for s in schema["anyOf"])
        return [(path, f"needs {names}")]
    if custom:
        return [(path, f"{value!r} {custom}" if not isinstance(value, (dict, list)) else custom)]
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return [(path, f"must be {_article(expected)}, got {_describe(value)}")]
    if kind == "minItems" and error.validator_value == 1:
        return [(path, "must not be empty")]
    if kind == "minProperties":
        return [(path, "must not be empty")]
    if kind == "uniqueItems":
        return [(path, "has the same item twice")]
    return [(path, error.message)]


_IDENTIFIER_WORDS = "must start with a letter and hold only letters, digits and '_'"


def _at(data: Any, path: FieldPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _all_required(schemas: list[Any]) -> bool:
    return bool(schemas) and all(isinstance(s, dict) and list(s) == ["required"] for s in schemas)


def _suggest(word: str, choices: list[str], what: str = "") -> str:
    hint = did_you_mean(word, choices)
    if hint:
        return hint
    if what and choices:
        return f" (allowed {what}: {', '.join(choices)})"
    return ""


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _describe(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "nothing (null)",
    }
    kind = names.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)) or value is None:
        return kind
    return f"{kind} {value!r}"
