"""The "did you mean" hint."""

from __future__ import annotations

from airflow_stripe_automation.suggestions import did_you_mean


def test_the_closest_choice_is_offered():
    assert did_you_mean("descripton", ["amount", "description", "currency"]) == "; did you mean 'description'?"
    assert did_you_mean("amout", iter(["amount", "currency"])) == "; did you mean 'amount'?"


def test_nothing_close_enough_gives_no_hint():
    assert did_you_mean("zzz", ["amount", "currency"]) == ""
    assert did_you_mean("amount", []) == ""


def test_the_cutoff_decides_what_is_close_enough():
    # difflib rates "cur" against "currency" 0.55
    assert did_you_mean("cur", ["currency"], cutoff=0.5) == "; did you mean 'currency'?"
    assert did_you_mean("cur", ["currency"], cutoff=0.6) == ""
