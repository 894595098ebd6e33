"""Readiness probes used by scripts/services (not part of the orderstream package).

    python scripts/probe.py kafka 127.0.0.1:9092 [--timeout S]
    python scripts/probe.py pg postgresql://user:pass@host:port/db [--timeout S]

Exit 0 and print one line (a short description / the server version) when the
service answers a real protocol request; exit 1 and print the reason otherwise.

Kafka: with aiokafka importable, a Metadata request that must list at least one
broker and a controller; without it, a raw ApiVersions round trip (stdlib only).
PostgreSQL: with psycopg importable, connect and `SHOW server_version`; without
it, pg_isready from PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import struct
import subprocess
import sys


def _split_hostport(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    return host or "127.0.0.1", int(port)


async def _kafka_metadata(bootstrap: str, timeout: float) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(timeout * 1000),
        client_id="orderstream-probe",
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        info = await asyncio.wait_for(admin.describe_cluster(), timeout)
    finally:
        await admin.close()
    brokers = info.get("brokers") or []
    controller = info.get("controller_id", -1)
    if not brokers:
        raise RuntimeError("metadata lists no broker yet")
    if controller is None or controller < 0:
        raise RuntimeError("metadata names no controller yet")
    return f"{len(brokers)} broker(s), controller {controller}, cluster {info.get('cluster_id')}"


def _kafka_api_versions(bootstrap: str, timeout: float) -> str:
    host, port = _split_hostport(bootstrap)
    client_id = b"orderstream-probe"
    # RequestHeader v1: api_key=18 (ApiVersions), api_version=0, correlation_id, client_id
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv_exact(sock, 4))[0]
        payload = _recv_exact(sock, size)
    correlation_id, error_code, n_apis = struct.unpack(">ihi", payload[:10])
    if correlation_id != 7 or error_code != 0:
        raise RuntimeError(f"ApiVersions error_code={error_code}")
    return f"ApiVersions ok ({n_apis} APIs)"


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return buf


def probe_kafka(bootstrap: str, timeout: float) -> str:
    try:
        import aiokafka  # noqa: F401
    except ImportError:
        return _kafka_api_versions(bootstrap, timeout)
    return asyncio.run(_kafka_metadata(bootstrap, timeout))


def probe_pg(url: str, timeout: float) -> str:
    try:
        import psycopg
    except ImportError:
        exe = shutil.which("pg_isready")
        if not exe:
            raise RuntimeError("neither psycopg nor pg_isready is available") from None
        res = subprocess.run(
            [exe, "-d", url, "-t", str(max(1, int(timeout)))],
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            raise RuntimeError(res.stdout.strip() or res.stderr.strip()) from None
        return "accepting connections (version unknown: psycopg not installed)"
    with psycopg.connect(url, connect_timeout=max(1, int(timeout))) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("service", choices=["kafka", "pg"])
    parser.add_argument("address")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    try:
        if args.service == "kafka":
            print(probe_kafka(args.address, args.timeout))
        else:
            print(probe_pg(args.address, args.timeout))
    except Exception as exc:  # any failure means "does not answer"
        msg = str(exc).strip().splitlines()
        print(f"{type(exc).__name__}: {msg[0] if msg else ''}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
