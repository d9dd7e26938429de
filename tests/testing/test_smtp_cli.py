"""``python -m airflow_stripe_automation.testing.smtp``: the SMTP sink as a process, for a staging Airflow or a demo."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default


def test_the_sink_prints_its_connection_and_each_mail_and_keeps_it(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_stripe_automation.testing.smtp", "--port", "0", "--save", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        listening = process.stdout.readline()
        assert listening.startswith("SMTP sink listening on 127.0.0.1:"), listening + process.stderr.read()
        conn = json.loads(process.stdout.readline().split("=", 1)[1].strip().strip("'"))
        assert conn["conn_type"] == "smtp" and conn["extra"]["from_email"] == "airflow@example.com"

        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "airflow@example.com", "ops@example.com", "Invoice INV-1 is overdue"
        mail.set_content("Please look.")
        with smtplib.SMTP(conn["host"], conn["port"], timeout=10) as smtp:
            smtp.send_message(mail)

        # the line is printed once the server has the mail (readline blocks until then; no sleep)
        line = process.stdout.readline()
        assert line == "mail 1: from airflow@example.com to ops@example.com: 'Invoice INV-1 is overdue'\n"
        saved = BytesParser(policy=default).parsebytes((tmp_path / "00001.eml").read_bytes())
        assert saved["Subject"] == "Invoice INV-1 is overdue" and "Please look." in saved.get_content()

        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
        assert process.returncode == 0 and "SMTP sink stopped after 1 mail(s)" in out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
