"""Compare a recipe's DAG with its Python example DAG: the same tasks, classes, dependencies and params."""

from __future__ import annotations

from typing import Any


def dag_shape(dag: Any) -> dict[str, Any]:
    """What must match between a recipe's DAG and its example: not the DAG id, the texts or the file."""
    tasks = {}
    for task in dag.tasks:
        cls = getattr(task, "operator_class", None) or type(task)
        if not isinstance(cls, type):  # a mapped operator keeps its class as a serialized dict
            cls = type(task)
        tasks[task.task_id] = {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "upstream": sorted(task.upstream_task_ids),
            "mapped_group": getattr(task.get_closest_mapped_task_group(), "group_id", None),
            # the identity its keys and marks rest on: one recipe's two forms act once together
            "action_id": getattr(task, "partial_kwargs", {}).get("action_id", getattr(task, "action_id", None)),
        }
    params = {name: dag.params.get_param(name).dump() for name in dag.params}
    for param in params.values():
        param.pop("description", None)
    return {
        "tasks": tasks,
        "params": params,
        "schedule": type(dag.timetable).__name__,
        "summary": getattr(dag.timetable, "summary", None),
    }
