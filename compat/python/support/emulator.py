"""Start and stop one emulator process for a test session.

The official SDKs dial fixed ports (8883 for MQTT over TLS, 443 for HTTPS and
the WebSockets, 5671 for AMQPS, 5672 for plain AMQP with
UseDevelopmentEmulator=true), so the emulator listens on exactly those, on
loopback only, with a fresh data folder. Anything that stops it from coming
up is an error, never a skip.
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

MQTTS_PORT = 8883
HTTPS_PORT = 443
AMQPS_PORT = 5671
AMQP_PORT = 5672
BIND = "127.0.0.1"

# A consumer group besides $Default that the suite's emulator is started with.
EXTRA_CONSUMER_GROUP = "compat-extra"

# The hub every emulator starts with (documented in the project README).
SERVICE_CONNECTION_STRING = (
    "HostName=localhost;SharedAccessKeyName=iothubowner;"
    "SharedAccessKey=NB8od74PPD3jjNrlu0L12lab0PZAWIVQPizAZTQ0otw="
)

REPO_ROOT = Path(__file__).resolve().parents[3]


class EmulatorError(RuntimeError):
    """The emulator could not be started or did not stop cleanly."""


def default_binary():
    return Path(os.environ.get("COMPAT_EMULATOR_BIN") or REPO_ROOT / "bin" / "iothub-emulator")


def clean_env():
    """The caller's environment without IOTHUB_EMULATOR_* settings, which the
    emulator would read as flags and which would make runs differ by machine."""
    return {k: v for k, v in os.environ.items() if not k.startswith("IOTHUB_EMULATOR_")}


def ensure_port_free(port):
    """Fail early, with a clear message, when something already listens on a
    port the SDKs need: otherwise the tests could talk to that process."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((BIND, port))
        except OSError as err:
            raise EmulatorError(f"port {BIND}:{port} is not available: {err}") from err


class Emulator:
    """One running emulator: its data folder, CA and log."""

    def __init__(self, binary, data_dir):
        self.binary = Path(binary)
        self.data_dir = Path(data_dir)
        self.ca_path = self.data_dir / "certs" / "ca.pem"
        self.log_path = self.data_dir.parent / (self.data_dir.name + ".log")
        self.proc = None
        self._log = None

    def start(self, timeout=30.0, extra_args=()):
        if not (self.binary.is_file() and os.access(self.binary, os.X_OK)):
            raise EmulatorError(f"emulator binary {self.binary} is missing; run `make build`")
        for port in (MQTTS_PORT, HTTPS_PORT, AMQPS_PORT, AMQP_PORT):
            ensure_port_free(port)
        cmd = [
            str(self.binary), "serve",
            "--bind", BIND,
            "--mqtts-port", str(MQTTS_PORT),
            "--https-port", str(HTTPS_PORT),
            "--amqps-port", str(AMQPS_PORT),
            "--amqp-port", str(AMQP_PORT),
            "--consumer-groups", EXTRA_CONSUMER_GROUP,
            "--mqtt-port", "off",
            "--http-port", "0",
            "--data-dir", str(self.data_dir),
            # debug logs every request, publish and queue step, for a failure's post-mortem.
            "--log-level", os.environ.get("COMPAT_EMULATOR_LOG_LEVEL") or "info",
            *extra_args,
        ]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=clean_env()
        )
        deadline = time.monotonic() + timeout
        last_err = None
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise EmulatorError(f"emulator exited with status {code} during start-up:\n{self.log_tail()}")
            if self.ca_path.is_file():
                try:
                    if self._healthz() == 200:
                        return self
                except (OSError, ssl.SSLError) as err:
                    last_err = err
            time.sleep(0.2)
        self.kill()
        raise EmulatorError(
            f"emulator not healthy within {timeout:.0f}s (last error: {last_err}):\n{self.log_tail()}"
        )

    def _healthz(self):
        # Verifying against our own fresh CA also proves that the process on
        # 443 is the one we started.
        ctx = ssl.create_default_context(cafile=str(self.ca_path))
        url = f"https://localhost:{HTTPS_PORT}/healthz"
        with urllib.request.urlopen(url, context=ctx, timeout=2) as resp:
            return resp.status

    def stop(self, timeout=15.0):
        """SIGTERM, then wait; returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # A Go program dumps every goroutine's stack on SIGQUIT: keep
                # that in the log to show where it is stuck.
                self.proc.send_signal(signal.SIGQUIT)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                self.kill()
                return None
        self._close_log()
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def printed_event_hubs_connection_strings(self):
        """Every Event Hubs-compatible connection string the start-up output
        printed (Endpoint=sb://...;EntityPath=...[;UseDevelopmentEmulator=true])."""
        return re.findall(r"Endpoint=sb://[^\s;]+;[^\s]*EntityPath=[^\s;]+(?:;[^\s;]+)*", self.log_text())

    def http_endpoint(self):
        """The plain HTTP endpoint the emulator printed for `--http-port 0`."""
        m = re.search(r"\bhttp://(127\.0\.0\.1:\d+)", self.log_text())
        return f"http://{m.group(1)}" if m else None
