#!/usr/bin/env python3
"""Raw-request fuzzer for isowatch's HTTP API, run against the real server.

There is no OpenAPI document yet for schemathesis to read, so requests are generated from the
routes the server defines, mutated at every level an HTTP parser sees: method, target (path
segments, percent-encoding, query parameters), version, headers (lengths, framing, cookies) and
body. Each request goes over its own TCP connection; the fuzzer reads the status line and the
headers, or notes that the server closed or did not answer.

Findings: the process dies; /healthz stops answering 200 within 5 s; a request gets no answer
within 10 s (a hang); a 5xx answer (a malformed request deserves a 4xx that says why). Every
finding keeps the request bytes that caused it.

    python3 Fuzz/http/raw_http_fuzz.py --binary .build/debug/isowatch --seconds 120 --seed 1
"""

import argparse
import collections
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time

ROUTES = [
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/systems"),
    ("GET", "/api/v1/systems/{id}"),
    ("GET", "/api/v1/systems/{id}/readings"),
    ("GET", "/api/v1/systems/{id}/history"),
    ("GET", "/api/v1/systems/{id}/readings.csv"),
    ("GET", "/api/v1/systems/{id}/report"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/alarms"),
    ("GET", "/api/v1/session"),
    ("POST", "/api/v1/login"),
    ("POST", "/api/v1/logout"),
    ("POST", "/api/v1/systems/{id}/silence"),
    ("POST", "/api/v1/systems/{id}/acknowledge"),
    ("POST", "/api/v1/systems/{id}/test"),
    ("GET", "/"),
    ("GET", "/index.html"),
]
QUERY_KEYS = ["from", "to", "limit", "since", "resolution", "format", "system", "step", "offset"]
NASTY = ["", "-1", "0", "1e309", "NaN", "inf", "99999999999999999999", "2026-13-45T25:61:61Z",
         "%00", "%ff", "%", "%%", "'", "\"", "..", "%2e%2e%2f", "\u00e9", "\U0001f525",
         "a" * 5000, ";", "&&", "[]", "{}", "\r\n", " "]


def mutate_bytes(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not data:
            data += bytes([rng.randrange(256)])
            continue
        choice = rng.randrange(4)
        i = rng.randrange(len(data))
        if choice == 0:
            data[i] = rng.randrange(256)
        elif choice == 1:
            del data[i]
        elif choice == 2:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            data[i:i] = data[i:i + rng.randint(1, 64)] * rng.randint(2, 50)
    return bytes(data)


def make_request(rng, port, system_id):
    method, path = rng.choice(ROUTES)
    ident = system_id if rng.random() < 0.5 else rng.choice(NASTY + ["or-1", "OR-1", "or-1/../or-1"])
    path = path.replace("{id}", ident)
    if rng.random() < 0.3:
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT", "G\x00T", ""])
    if rng.random() < 0.5:
        params = [f"{rng.choice(QUERY_KEYS)}={rng.choice(NASTY)}" for _ in range(rng.randint(1, 4))]
        path += "?" + "&".join(params)
    version = rng.choice(["HTTP/1.1"] * 8 + ["HTTP/1.0", "HTTP/2.0", "HTTP/9.9", "HTTX/1.1", ""])
    headers = [f"Host: 127.0.0.1:{port}"]
    body = b""
    if method in ("POST", "PUT", "PATCH") or rng.random() < 0.1:
        body = rng.choice([
            json.dumps({"username": rng.choice(NASTY), "password": rng.choice(NASTY)}).encode(),
            b"{", b"[]", b"null", b'{"username": 1, "password": []}', os.urandom(rng.randint(0, 300)),
        ])
        headers.append(rng.choice(["Content-Type: application/json", "Content-Type: text/plain", "Content-Type: \x01"]))
    # A request whose framing promises more body than it carries is answered only when the
    # server's idle timeout ends it; a missing answer to it is not a hang.
    complete = True
    framing = rng.randrange(6)
    if framing == 0:
        headers.append(f"Content-Length: {len(body)}")
    elif framing == 1:
        declared = rng.choice(['-1', '0', '99999999999', 'abc', str(len(body) + 5)])
        complete = not declared.isdigit() or int(declared) <= len(body)
        headers.append(f"Content-Length: {declared}")
    elif framing == 2:
        headers.append("Transfer-Encoding: chunked")
        ending = rng.choice([b"0\r\n\r\n", b"zz\r\n", b""])
        complete = ending != b""
        body = (b"%x\r\n" % len(body)) + body + b"\r\n" + ending
    elif framing == 3 and body:
        headers.append(f"Content-Length: {len(body)}")
        headers.append("Transfer-Encoding: chunked")
    if rng.random() < 0.2:
        headers.append("Cookie: " + rng.choice(["session=" + rng.choice(NASTY), "a" * 9000, "=;=;=", "session="]))
    if rng.random() < 0.1:
        headers.append("X-Long: " + "x" * rng.choice([100, 10_000, 100_000]))
    if rng.random() < 0.1:
        headers.append(rng.choice(["NoColonHeader", ": empty-name", "Bad Header: 1", "Accept: \x7f\x80"]))
    if rng.random() < 0.1:
        headers.append("Connection: " + rng.choice(["close", "keep-alive", "upgrade", "Upgrade: h2c"]))
    request = f"{method} {path} {version}\r\n".encode("utf-8", "surrogateescape")
    request += "".join(h + "\r\n" for h in headers).encode("utf-8", "surrogateescape") + b"\r\n" + body
    if rng.random() < 0.15:
        request = mutate_bytes(rng, request)
        complete = False
    return request, complete


def exchange(port, request, timeout):
    """Sends the request and returns the status code, 'closed' or 'timeout'."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        try:
            conn.sendall(request)
        except OSError:
            pass  # the server may close early on a bad request; read what it said
        received = b""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in received:
            conn.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = conn.recv(4096)
            except socket.timeout:
                return "timeout"
            except ConnectionResetError:
                return "closed"
            if not chunk:
                return "closed"
            received += chunk
        line = received.split(b"\r\n", 1)[0].split()
        return int(line[1]) if len(line) >= 2 and line[1].isdigit() else "garbage"


def healthy(port):
    try:
        return exchange(port, f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode(), 5) == 200
    except OSError:
        return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--findings", default=".build-fuzz/findings/http")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    port = free_port()
    work = tempfile.mkdtemp(prefix="isowatch-http-fuzz-")
    config = os.path.join(work, "isowatch.yaml")
    with open(config, "w") as f:
        f.write(f"""site: {{ name: "HTTP fuzz" }}
http: {{ listen: "127.0.0.1:{port}", open_read: true }}
gpio: {{ backend: simulated }}
profiles_directory: {root}/hardware/profiles
storage: {{ path: {work}/history.sqlite }}
systems:
  - id: or-1
    name: "OR 1"
    transformer: {{ rating_kva: 8, secondary_voltage_volts: 230 }}
    device:
      profile: bender-isometer
      transport: {{ tcp: {{ host: 127.0.0.1, port: {free_port()} }} }}
""")
    os.makedirs(args.findings, exist_ok=True)
    starts = 0

    def start():
        nonlocal starts
        starts += 1
        log = open(os.path.join(work, f"isowatch-{starts}.log"), "w")
        process = subprocess.Popen(
            [os.path.abspath(args.binary), "run", "--config", config], stdout=log, stderr=log, cwd=work,
            env=dict(os.environ, SWIFT_BACKTRACE="enable=no"))
        deadline = time.monotonic() + 60
        while not healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                print(open(log.name).read(), file=sys.stderr)
                sys.exit("isowatch did not start")
            time.sleep(0.2)
        return process

    service = start()
    try:
        outcomes = collections.Counter()
        findings = []
        recent = collections.deque(maxlen=50)
        sent = 0
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            request, complete = make_request(rng, port, "or-1")
            recent.append(request)
            try:
                outcome = exchange(port, request, 10)
            except OSError as error:
                outcome = f"connect-error:{error.errno}"
            sent += 1
            key = f"{outcome // 100}xx" if isinstance(outcome, int) else outcome
            if outcome == "timeout" and not complete:
                key = "timeout (body promised, never sent)"
            outcomes[key] += 1
            # 503 is the server's deliberate "not available"; any other 5xx is an unhandled error.
            if (outcome == "timeout" and complete) or (isinstance(outcome, int) and outcome >= 500 and outcome != 503):
                name = os.path.join(args.findings, f"{key}-{sent}.http")
                open(name, "wb").write(request)
                findings.append((key, name))
            if sent % 50 == 0 or str(outcome).startswith("connect-error"):
                if service.poll() is not None or not healthy(port):
                    name = os.path.join(args.findings, f"dead-after-{sent}.http")
                    open(name, "wb").write(b"\n=====\n".join(recent))
                    log = os.path.join(work, f"isowatch-{starts}.log")
                    cause = [l for l in open(log, errors="replace") if "Fatal error" in l or "at /work" in l][:3]
                    findings.append(("server died or stopped answering", name + " " + " | ".join(c.strip() for c in cause)))
                    outcomes["server deaths"] += 1
                    if service.poll() is None:
                        service.kill()
                    service.wait()
                    recent.clear()
                    if starts > 5:
                        break
                    service = start()
        alive = service.poll() is None and healthy(port)
        summary = {
            "requests": sent, "seconds": args.seconds, "seed": args.seed, "outcomes": dict(sorted(outcomes.items())),
            "alive_at_end": alive, "findings": len(findings),
        }
        print(json.dumps(summary))
        for kind, name in findings[:20]:
            print(f"finding: {kind}: {name}", file=sys.stderr)
        sys.exit(0 if alive and not findings else 1)
    finally:
        service.terminate()
        try:
            service.wait(10)
        except subprocess.TimeoutExpired:
            service.kill()


if __name__ == "__main__":
    main()
