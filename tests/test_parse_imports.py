"""What DAG parsing imports: the DAG processor imports the provider afresh for every parse of a file.

``[dag_processor] parsing_pre_import_modules`` pre-imports only ``airflow.*`` modules, never
``airflow_stripe_automation.*``: every parse of a DAG file imports the operators, sensors and recipe
modules it uses in a new process. The Stripe SDK (and Babel, for money in mails) is only needed
when a task runs, so parsing must not import it. Checked in a new interpreter, where nothing else
has imported them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airflow_stripe_automation import get_provider_info
from tests.conftest import REPO

#: Packages the provider uses only at run time.
RUN_TIME_ONLY = ("stripe", "babel")


def _loaded_after(code: str) -> list[str]:
    """The run-time-only modules in ``sys.modules`` after running ``code`` in a new interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {RUN_TIME_ONLY!r})))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO, env=os.environ.copy()
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_parsing_every_shipped_dag_file_imports_no_stripe_sdk():
    code = (
        "from pathlib import Path\n"
        "from airflow.dag_processing.dagbag import BundleDagBag\n"
        "for folder in ('example_dags', 'dags'):\n"
        "    path = Path(folder).resolve()\n"
        "    bag = BundleDagBag(dag_folder=str(path), bundle_path=path, bundle_name=folder, load_op_links=False)\n"
        "    assert bag.dags and not bag.import_errors, bag.import_errors\n"
    )
    assert _loaded_after(code) == []


def test_importing_every_module_the_provider_registers_imports_no_stripe_sdk():
    info = get_provider_info()
    modules = [
        m for kind in ("hooks", "operators", "sensors", "triggers") for e in info[kind] for m in e["python-modules"]
    ]
    modules += [path.rpartition(".")[0] for path in info["extra-links"]]
    modules += ["airflow_stripe_automation.recipes"]
    assert _loaded_after("\n".join(f"import {m}" for m in modules)) == []
