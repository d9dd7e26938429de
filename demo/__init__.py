"""The demo (``make demo``): the twelve recipes on a real, local Airflow against the local Stripe server.

One concept per module: :mod:`demo.processes` (child processes that die with the demo),
:mod:`demo.airflow_api` (the REST API as the demo's user), :mod:`demo.stack` (the servers and the
Airflow components), :mod:`demo.seed` (a small Stripe account), :mod:`demo.plan` (what each recipe
runs and how), :mod:`demo.report` (what the demo prints) and :mod:`demo.run_demo` (the command).
"""
