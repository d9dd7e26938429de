"""R12 — keep customer details in sync, end to end with dag.test()."""

from __future__ import annotations

DAG_ID = "stripe_sync_customer_details"


def test_updates_only_given_fields_and_mails_the_courier(run_dag, stripe_client, smtp_connection):
    customer = stripe_client.v1.customers.create(
        params={"email": "shop@example.com", "name": "Ada Shop", "phone": "+1 555 0100"}
    )
    conf = {
        "customer_id": customer.id,
        "phone": "+49 30 1234567",
        "address": {"line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117", "country": "DE"},
        "tax_id": {"type": "eu_vat", "value": "DE123456789"},
        "courier_email": "courier@example.com",
    }
    dag_run, tis = run_dag(DAG_ID, conf)

    assert dag_run.state == "success", {t: ti.state for t, ti in tis.items()}
    after = stripe_client.v1.customers.retrieve(customer.id)
    assert (after.name, after.email, after.phone) == ("Ada Shop", "shop@example.com", "+49 30 1234567")
    assert (after.address.line1, after.address.city, after.address.country) == ("Unter den Linden 1", "Berlin", "DE")
    assert [t.value for t in stripe_client.v1.customers.tax_ids.list(customer.id).auto_paging_iter()] == ["DE123456789"]
    (mail,) = smtp_connection.messages
    assert mail.rcpt_tos == ["courier@example.com"] and mail.subject == "Delivery address for Ada Shop"
    assert "Unter den Linden 1, 10117 Berlin, DE" in mail.body


def test_without_courier_email_no_mail_is_sent(run_dag, stripe_client, smtp_connection):
    customer = stripe_client.v1.customers.create(params={"email": "x@example.com"})
    dag_run, tis = run_dag(DAG_ID, {"customer_id": customer.id, "name": "New Name"})
    assert dag_run.state == "success"
    assert tis["mail_courier"].state == "skipped", {t: (ti.state, ti.run_id) for t, ti in tis.items()}
    assert stripe_client.v1.customers.retrieve(customer.id).name == "New Name"
    assert smtp_connection.messages == []
