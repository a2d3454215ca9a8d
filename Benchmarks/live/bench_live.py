"""Live-update latency of the dashboard's event stream (issue 6).

Starts the built isowatch-sim (N Bender ISOMETER units behind one Modbus TCP endpoint) and the
built isowatch (polling each unit), opens GET /api/v1/stream as a browser would, and changes one
unit's insulation value at a time through the simulator's control interface. For every change it
records when the new value first appears

  - in the live stream (the SSE client: what the browser's EventSource receives), and
  - in GET /api/v1/systems/{id}, polled every 5 ms by a second client (the baseline: the service's
    own snapshot, with no fan-out and no stream in between),

both counted from the moment the control request returned. Both include the simulated device's
measurement interval and the poll interval (the value appears at the device's next measurement
and the service reads it at its next poll); the difference between the two is what the live
stream adds. Prints a Markdown table.
"""
import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, ".build", "release"))
    parser.add_argument("--units", type=int, default=8)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--poll", type=float, default=1.0, help="poll interval of each unit, seconds")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    random.seed(arguments.seed)

    modbus, control, web = free_port(), free_port(), free_port()
    units = list(range(1, arguments.units + 1))
    simulator = subprocess.Popen(
        [os.path.join(arguments.build, "isowatch-sim"), "serve", "--profiles", os.path.join(ROOT, "hardware/profiles"),
         "--profile", "bender-isometer", "--tcp", f"127.0.0.1:{modbus}", "--control", f"127.0.0.1:{control}"]
        + [a for u in units for a in ("--unit", str(u))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    directory = tempfile.mkdtemp(prefix="isowatch-bench-live-")
    configuration = os.path.join(directory, "isowatch.yaml")
    with open(configuration, "w") as file:
        file.write(f'site: {{ name: "live latency bench" }}\n'
                   f'http: {{ listen: "127.0.0.1:{web}", open_read: true }}\n'
                   f'gpio: {{ backend: simulated }}\n'
                   f'profiles_directory: {os.path.join(ROOT, "hardware/profiles")}\nsystems:\n')
        for unit in units:
            file.write(f'  - id: or-{unit}\n    name: "OR {unit}"\n    location: "OR {unit}"\n'
                       f'    transformer: {{ rating_kva: 8, secondary_voltage_volts: 230 }}\n'
                       f'    device: {{ profile: bender-isometer, transport: {{ tcp: {{ host: 127.0.0.1, port: {modbus} }} }}, '
                       f'unit: {unit}, poll_interval_seconds: {arguments.poll}, timeout_seconds: {min(0.5, arguments.poll / 2)} }}\n')
    service = subprocess.Popen([os.path.join(arguments.build, "isowatch"), "run", "--config", configuration],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stream_seen = {}   # (system, ohms) -> monotonic time
    snapshot_seen = {}
    lock = threading.Lock()
    stop = threading.Event()

    def systems():
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/api/v1/systems", timeout=5) as reply:
            return json.load(reply)

    def stream_reader():
        connection = http.client.HTTPConnection("127.0.0.1", web, timeout=60)
        connection.request("GET", "/api/v1/stream", headers={"Accept": "text/event-stream"})
        response = connection.getresponse()
        data = []
        while not stop.is_set():
            line = response.fp.readline()
            if not line:
                break
            now = time.monotonic()
            line = line.decode().rstrip("\r\n")
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                status = json.loads("\n".join(data))
                data = []
                ohms = (status.get("reading") or {}).get("insulation_resistance_ohms")
                with lock:
                    stream_seen.setdefault((status["id"], ohms), now)

    def snapshot_poller():
        while not stop.is_set():
            try:
                answer = systems()
            except OSError:
                continue
            now = time.monotonic()
            with lock:
                for status in answer:
                    ohms = (status.get("reading") or {}).get("insulation_resistance_ohms")
                    snapshot_seen.setdefault((status["id"], ohms), now)
            time.sleep(0.005)

    try:
        if not wait_until(lambda: _answers(web), 30):
            sys.exit("isowatch did not start")
        if not wait_until(lambda: all(s["alarm"]["state"] == "normal" for s in systems()), 60):
            sys.exit("the systems did not turn green")
        threads = [threading.Thread(target=stream_reader, daemon=True), threading.Thread(target=snapshot_poller, daemon=True)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        stream_latencies, snapshot_latencies, differences = [], [], []
        for change in range(arguments.changes):
            unit = random.choice(units)
            # Healthy values only (no alarm), each one new, in whole kΩ as the device publishes them.
            ohms = 200_000 + change * 1000
            body = json.dumps({"values": {"insulation_resistance_ohms": ohms}}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{control}/api/v1/endpoints/tcp0/units/{unit}", data=body, method="PATCH",
                headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=5).read()
            changed = time.monotonic()
            key = (f"or-{unit}", ohms)
            if not wait_until(lambda: key in stream_seen and key in snapshot_seen, 10):
                print(f"change {change}: not seen within 10 s", file=sys.stderr)
                continue
            with lock:
                stream_latencies.append((stream_seen[key] - changed) * 1000)
                snapshot_latencies.append((snapshot_seen[key] - changed) * 1000)
                differences.append((stream_seen[key] - snapshot_seen[key]) * 1000)
        print(f"isowatch live stream: {len(units)} IT systems on one Modbus TCP endpoint, poll {arguments.poll} s, "
              f"{len(stream_latencies)} changes, seed {arguments.seed}\n")
        print("| path | count | p50 (ms) | p99 (ms) | max (ms) |\n|---|---:|---:|---:|---:|")
        for name, values in (("simulator change → SSE event at the client", stream_latencies),
                             ("baseline: simulator change → GET /api/v1/systems shows it (5 ms polling)", snapshot_latencies),
                             ("SSE event − snapshot first showing it", differences)):
            print(f"| {name} | {len(values)} | {percentile(values, 0.5):.1f} | {percentile(values, 0.99):.1f} | "
                  f"{max(values) if values else float('nan'):.1f} |")
    finally:
        stop.set()
        service.terminate()
        simulator.terminate()
        service.wait(timeout=20)
        simulator.wait(timeout=20)


def _answers(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
