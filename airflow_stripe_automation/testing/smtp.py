"""A real SMTP server on loopback that keeps every message it receives, for tests that read mail back.

Built on aiosmtpd (the maintained asyncio SMTP server; the ``test`` extra installs it). Airflow's
SMTP provider talks to it exactly as it would to a production relay.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
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
        with self.sink._lock:
            self.sink._messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class LocalSmtpServer:
    """
    An SMTP server on 127.0.0.1 that stores what it receives.

    :param port: the port to listen on; 0 picks a free one
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or _free_port(host)
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
        return {
            "conn_type": "smtp",
            "host": self.host,
            "port": self.port,
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
