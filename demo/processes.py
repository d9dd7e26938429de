"""Child processes of the demo (and of the distributed tests' clusters): each in its own process group, ended with its parent however it ends.

On Linux every child asks the kernel for SIGTERM when the demo dies (``prctl(PR_SET_PDEATHSIG)``,
kept across ``exec``), so a killed demo leaves no Airflow behind; :meth:`Child.stop` ends the
child's group, then any descendant that left it (Airflow's task processes start groups of their own).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

# Runs ``python <args>`` after asking the kernel to SIGTERM it when the demo dies (PR_SET_PDEATHSIG
# = 1 survives exec); exits at once if the demo is already gone.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n"
)


def free_port(preferred: int = 0) -> int:
    """``preferred`` when it is free on 127.0.0.1, else a free port the kernel picks."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free port")


def wait_until(
    check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.5, ok_errors: tuple = (OSError,)
) -> Any:
    """Call ``check`` until it returns something truthy and return that; ``TimeoutError`` naming ``what``.

    ``ok_errors`` (connection errors by default) count as "not yet"; any other exception ends the wait.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
        except ok_errors as exc:
            last_error, result = exc, None
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error!r})")
        time.sleep(interval)


@dataclass
class Child:
    """One child process (``python <args>``), its combined stdout/stderr log and the descendants seen."""

    name: str
    log_path: Path
    process: subprocess.Popen[bytes]
    seen: dict[int, psutil.Process] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-chars:]

    def remember_descendants(self) -> None:
        """Note the process tree, to end stragglers that leave the child's process group."""
        if not self.running():
            return
        try:
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                self.seen.setdefault(proc.pid, proc)
        except psutil.Error:
            pass

    def signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the child's group, SIGKILL it after ``grace``, then kill any descendant still alive."""
        self.remember_descendants()
        self.signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        self.signal_group(signal.SIGKILL)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        stragglers = [proc for proc in self.seen.values() if _alive(proc)]
        for proc in stragglers:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(stragglers, timeout=5)


def spawn(args: Sequence[str], *, env: dict[str, str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``python <args>`` in its own session, its output to ``log_path``; it dies with this process."""
    command = [sys.executable, *args]
    if sys.platform == "linux":
        command = [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *args]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as out:
        return subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start(name: str, args: Sequence[str], *, env: dict[str, str], cwd: Path, log_path: Path) -> Child:
    """:func:`spawn` ``python <args>`` as the named :class:`Child`."""
    return Child(name=name, log_path=log_path, process=spawn(args, env=env, cwd=cwd, log_path=log_path))


def finish(child: Child, *, timeout: float) -> None:
    """Wait for ``child`` to end; ``RuntimeError`` with its output's tail if it fails or hangs."""
    try:
        returncode = child.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.stop(grace=2)
        raise RuntimeError(f"{child.name} did not finish in {timeout:.0f}s:\n{child.log_tail()}") from None
    if returncode != 0:
        raise RuntimeError(f"{child.name} exited with {returncode}:\n{child.log_tail()}")


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
