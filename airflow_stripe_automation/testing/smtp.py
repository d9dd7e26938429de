"""A real SMTP server on loopback that keeps every message it receives, for tests that read mail back.

Built on aiosmtpd (the maintained asyncio SMTP server; the ``test`` extra installs it). Airflow's
SMTP provider talks to it exactly as it would to a production relay.

``python -m airflow_stripe_automation.testing.smtp --port 8025`` runs it in the foreground beside the
local Stripe server (``python -m airflow_stripe_automation.testing``), for a staging Airflow or a
demo: it prints the ``smtp_default`` connection that reaches it, then one line per mail received,
and with ``--save DIR`` keeps each mail as an ``.eml`` file a mail client opens.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any


@dataclass
class ReceivedMail:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage = field(repr=False)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def to(self) -> str:
        return str(self.message["To"] or "")

    def header(self, name: str) -> str | None:
        value = self.message[name]
        return None if value is None else str(value)

    @property
    def body(self) -> str:
        """The text of the message: the HTML part if any, else the plain one."""
        part = self.message.get_body(preferencelist=("html", "plain"))
        return part.get_content() if part is not None else ""


class _Handler:
    def __init__(self, sink: LocalSmtpServer) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        mail = ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message)
        with self.sink._lock:
            self.sink._messages.append(mail)
        if self.sink.on_mail is not None:
            self.sink.on_mail(mail)
        return "250 Message accepted for delivery"


class LocalSmtpServer:
    """
    An SMTP server on 127.0.0.1 that stores what it receives.

    :param port: the port to listen on; 0 picks a free one
    :param on_mail: called with each mail as it arrives (in the server's thread)
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, on_mail: Callable[[ReceivedMail], None] | None = None
    ) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self.on_mail = on_mail
        self._messages: list[ReceivedMail] = []
        self._lock = threading.Lock()
        self._controller: Any = None

    def start(self) -> LocalSmtpServer:
        from aiosmtpd.controller import Controller

        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> LocalSmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[ReceivedMail]:
        """Every message received since the last :meth:`reset`, oldest first."""
        with self._lock:
            return list(self._messages)

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()

    def airflow_connection(self) -> dict[str, Any]:
        """The Airflow ``smtp`` connection (as ``AIRFLOW_CONN_…`` JSON) that reaches this server."""
        return airflow_connection(self.host, self.port)


def airflow_connection(host: str, port: int) -> dict[str, Any]:
    """
    The Airflow ``smtp`` connection (as ``AIRFLOW_CONN_…`` JSON) that reaches a local sink: no TLS, no retries.

    :param host: the sink's address
    :param port: the sink's port
    """
    return {
        "conn_type": "smtp",
        "host": host,
        "port": port,
        "extra": {
            "disable_tls": True,
            "disable_ssl": True,
            "from_email": "airflow@example.com",
            "retry_limit": 0,
            "timeout": 10,
        },
    }


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    """Run the SMTP sink in the foreground until Ctrl-C or SIGTERM; see the module docstring."""
    import argparse
    import json
    from pathlib import Path

    from .foreground import wait_for_stop_signal

    parser = argparse.ArgumentParser(prog="python -m airflow_stripe_automation.testing.smtp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025, help="0 picks a free port")
    parser.add_argument("--save", type=Path, metavar="DIR", help="also keep each mail as DIR/<n>.eml")
    args = parser.parse_args(argv)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    count = 0
    count_lock = threading.Lock()

    def show(mail: ReceivedMail) -> None:
        nonlocal count
        with count_lock:
            count += 1
            number = count
        if args.save:
            (args.save / f"{number:05d}.eml").write_bytes(mail.message.as_bytes())
        print(f"mail {number}: from {mail.mail_from} to {', '.join(mail.rcpt_tos)}: {mail.subject!r}", flush=True)

    sink = LocalSmtpServer(args.host, args.port, on_mail=show).start()
    print(f"SMTP sink listening on {sink.host}:{sink.port}; Ctrl-C to stop", flush=True)
    print(f"AIRFLOW_CONN_SMTP_DEFAULT='{json.dumps(sink.airflow_connection())}'", flush=True)
    try:
        wait_for_stop_signal()
    finally:
        sink.stop()
        print(f"SMTP sink stopped after {count} mail(s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
