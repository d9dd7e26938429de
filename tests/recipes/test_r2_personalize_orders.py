"""R2 as a recipe: a sensor trigger, its objects mapped through a task group, one mail per payment."""

from __future__ import annotations

from tests.sensors.seeding import payment

DAG_ID = "recipe_personalize_orders"


def test_mails_the_team_once_per_large_usd_payment(run_recipe, stripe_client, stripe_server, smtp_connection):
    big = payment(stripe_client, 150000)
    payment(stripe_client, 90000)  # under min_amount
    payment(stripe_client, 250000, currency="eur")  # not usd
    window = {"since": big.created - 60, "until": big.created + 3600}

    dag_run, tis = run_recipe(DAG_ID, {**window, "team_email": "notes@example.com"})

    assert dag_run.state == "success", {k: ti.state for k, ti in tis.items()}
    (mail,) = smtp_connection.messages
    assert mail.to == "notes@example.com"
    assert mail.subject == "Add a handwritten thank-you note ($1,500.00 order)"
    assert big.customer in mail.body and "$1,500.00" in mail.body and big.id in mail.body
    assert [k for k in tis if isinstance(k, tuple)] == [("mail_team", 0)]  # mapped over the payments

    # A replay of the same window finds the mark on the payment and sends nothing more.
    replay, _ = run_recipe(DAG_ID, {**window, "team_email": "notes@example.com"})
    assert replay.state == "success"
    assert len(smtp_connection.messages) == 1


def test_a_window_without_matches_ends_successfully_with_no_mail(run_recipe, stripe_client, smtp_connection):
    small = payment(stripe_client, 5000)

    dag_run, tis = run_recipe(DAG_ID, {"since": small.created - 60, "until": small.created + 60})

    assert dag_run.state == "success"
    assert smtp_connection.messages == []
    assert tis["payment_succeeded"].state == "success"
