#!/usr/bin/env python3
"""Scale benchmark of isowatch (issue 7 §3), driven by scripts/bench-scale.

1. Scale: for each size N (1, 16, 64, 256 IT systems; Bender ISOMETER units, 16 per simulated
   Modbus TCP gateway, polled at 1 s), isowatch-sim serves the site in one process and the
   release `isowatch run` polls it in another, with 4 relays per system on the simulated GPIO
   backend. Once every system is green: CPU share of one core (utime + stime from /proc over the
   window) and resident memory (VmRSS sampled each second, and VmHWM). Then the same poll
   schedule's jitter (one BusPoller per gateway, each unit at 1 s: deviation of each device's
   poll-to-poll interval from 1 s) by `isowatch-scale jitter` against the same simulator.
2. Modbus TCP throughput against one simulated unit, in one run: a minimal C loop on libmodbus
   (the library's ceiling), isowatch's BusPoller polling back to back (`isowatch-scale
   throughput`), and pymodbus's async client; same register blocks, same simulator.
3. RTU bus utilisation at 19200 baud 8E1: the BusPoller polling an Acrel AIM-M10 on the
   simulator's RTU bus (a pty; the simulator times frames and the 3 ms slave turnaround as on a
   wire) against the theoretical maximum for the same requests: frame bytes × 11 bits / baud
   plus the 3.5-character silent interval after every frame (Modbus over Serial Line V1.02).

Prints a Markdown report. The reading-to-relay latency comes from scripts/bench (isowatch-bench,
64 systems), which this script does not duplicate.
"""

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def start(args, log):
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                            env=dict(os.environ, SWIFT_BACKTRACE="enable=no"))


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_kib(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


BENDER_VALUES = """        values:
          insulation_resistance_ohms: 1200000
          system_voltage_volts: 231
          leakage_capacitance_farads: 0.9e-6
"""


def tcp_site(gateway_ports, units):
    text = "name: isowatch scale benchmark\nendpoints:\n"
    for index, port in enumerate(gateway_ports):
        text += f"  - id: gw{index}\n    listen: 127.0.0.1:{port}\n    units:\n"
        for unit in range(1, units + 1):
            text += f"      - unit: {unit}\n        profile: bender-isometer\n" + BENDER_VALUES
    return text


def service_config(gateway_ports, units, http_port):
    text = f"""site: {{ name: "isowatch scale benchmark" }}
http: {{ listen: "127.0.0.1:{http_port}", open_read: true }}
gpio: {{ backend: simulated }}
profiles_directory: {ROOT}/hardware/profiles
systems:
"""
    index = 0
    for gateway, port in enumerate(gateway_ports):
        for unit in range(1, units + 1):
            # The simulated backend makes each named chip with 64 lines: 16 systems of 4 relays.
            chip, line = f"gpiochip{index // 16}", 4 * (index % 16)
            text += f"""  - id: gw{gateway}-u{unit}
    name: "System {index + 1}"
    transformer: {{ rating_kva: 8, secondary_voltage_volts: 230 }}
    device:
      profile: bender-isometer
      transport: {{ tcp: {{ host: 127.0.0.1, port: {port} }} }}
      unit: {unit}
      poll_interval_seconds: 1.0
      timeout_seconds: 0.5
    outputs:
      green: {{ chip: {chip}, line: {line} }}
      yellow: {{ chip: {chip}, line: {line + 1} }}
      buzzer: {{ chip: {chip}, line: {line + 2} }}
      common_alarm: {{ chip: {chip}, line: {line + 3} }}
"""
            index += 1
    return text


def all_green(http_port, count):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/v1/systems", timeout=5) as reply:
            systems = json.load(reply)
    except OSError:
        return False
    return len(systems) == count and all(s.get("alarm", {}).get("state") == "normal" for s in systems)


def measure_size(bin_dir, work, size, seconds, jitter_seconds):
    units = min(size, 16)
    gateways = [free_port() for _ in range(math.ceil(size / 16))]
    http_port = free_port()
    site = os.path.join(work, f"site-{size}.yaml")
    config = os.path.join(work, f"isowatch-{size}.yaml")
    open(site, "w").write(tcp_site(gateways, units))
    open(config, "w").write(service_config(gateways, units, http_port))
    log = open(os.path.join(work, f"run-{size}.log"), "w")
    simulator = start([f"{bin_dir}/isowatch-sim", "serve", "--site", site, "--no-control"], log)
    service = None
    try:
        for port in gateways:
            wait_for_port(port)
        service = start([f"{bin_dir}/isowatch", "run", "--config", config, "--log-level", "warning"], log)
        started = time.monotonic()
        while not all_green(http_port, size):
            if service.poll() is not None or time.monotonic() - started > 120:
                raise RuntimeError(f"{size} systems did not all turn green; see {log.name}")
            time.sleep(0.5)
        green_after = time.monotonic() - started
        time.sleep(5)
        pid = service.pid
        rss = []
        cpu_start, wall_start = cpu_seconds(pid), time.monotonic()
        while time.monotonic() - wall_start < seconds:
            rss.append(memory_kib(pid, "VmRSS"))
            time.sleep(1)
        cpu = (cpu_seconds(pid) - cpu_start) / (time.monotonic() - wall_start)
        peak = memory_kib(pid, "VmHWM")
        still_green = all_green(http_port, size)
        stop(service)
        service = None
        jitter = json.loads(subprocess.run(
            [f"{bin_dir}/isowatch-scale", "jitter", "--gateways", ",".join(f"127.0.0.1:{p}" for p in gateways),
             "--units", str(units), "--profile", "bender-isometer", "--seconds", str(jitter_seconds)],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        return {
            "systems": size, "gateways": len(gateways), "green_after_s": round(green_after, 1),
            "cpu_percent": round(100 * cpu, 2), "rss_mib_max": round(max(rss) / 1024, 1),
            "rss_mib_peak": round(peak / 1024, 1), "still_green": still_green, "jitter": jitter,
        }
    finally:
        if service:
            stop(service)
        stop(simulator)


def throughput(bin_dir, work, seconds, python):
    port = free_port()
    site = os.path.join(work, "site-throughput.yaml")
    open(site, "w").write(tcp_site([port], 1))
    log = open(os.path.join(work, "throughput.log"), "w")
    simulator = start([f"{bin_dir}/isowatch-sim", "serve", "--site", site, "--no-control"], log)
    try:
        wait_for_port(port)
        blocks = json.loads(subprocess.run(
            [f"{bin_dir}/isowatch-scale", "blocks", "--profile", "bender-isometer"],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        spec = [f"{b['table'][0]}:{b['address']}:{b['count']}" for b in blocks]
        runs = {}
        runs["C loop on libmodbus"] = subprocess.run(
            [os.path.join(work, "modbus_loop"), "127.0.0.1", str(port), "1", str(seconds)] + spec,
            capture_output=True, text=True, check=True).stdout
        runs["isowatch BusPoller"] = subprocess.run(
            [f"{bin_dir}/isowatch-scale", "throughput", "--tcp", f"127.0.0.1:{port}", "--unit", "1",
             "--profile", "bender-isometer", "--seconds", str(seconds)],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout
        runs["isowatch ModbusConnection.read loop (no scheduler)"] = subprocess.run(
            [f"{bin_dir}/isowatch-scale", "throughput", "--tcp", f"127.0.0.1:{port}", "--unit", "1",
             "--profile", "bender-isometer", "--seconds", str(seconds), "--scheduler", "none"],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout
        runs["pymodbus async client"] = subprocess.run(
            [python, os.path.join(ROOT, "Benchmarks/isowatch-scale/pymodbus_loop.py"), "127.0.0.1", str(port), "1",
             str(seconds)] + spec, capture_output=True, text=True, check=True).stdout
        results = {name: json.loads(out) for name, out in runs.items()}
        for result in results.values():
            result["per_second"] = result["requests"] / result["seconds"]
        return blocks, results
    finally:
        stop(simulator)


def rtu_utilisation(bin_dir, work, seconds):
    link = os.path.join(work, "rtu0")
    site = os.path.join(work, "site-rtu.yaml")
    open(site, "w").write(f"""name: isowatch RTU utilisation
endpoints:
  - id: rtu0
    link: {link}
    baud: 19200
    parity: E
    data_bits: 8
    stop_bits: 1
    units:
      - unit: 1
        profile: acrel-aim-m10
        values: {{ insulation_resistance_ohms: 800000, load_current_amperes: 10, winding_temperature_celsius: 40 }}
""")
    log = open(os.path.join(work, "rtu.log"), "w")
    simulator = start([f"{bin_dir}/isowatch-sim", "serve", "--site", site, "--no-control"], log)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(link):
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator's RTU link did not appear")
            time.sleep(0.1)
        result = json.loads(subprocess.run(
            [f"{bin_dir}/isowatch-scale", "throughput", "--rtu", link, "--baud", "19200", "--parity", "E",
             "--unit", "1", "--profile", "acrel-aim-m10", "--seconds", str(seconds)],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    finally:
        stop(simulator)
    character = 11 / 19200
    gap = 3.5 * character
    requests_per_poll = result["requests"] / max(1, result["polls"])
    wire_per_poll = (result["request_bytes"] + result["reply_bytes"]) * character + 2 * gap * requests_per_poll
    with_turnaround = wire_per_poll + 0.003 * requests_per_poll
    measured_per_poll = result["seconds"] / max(1, result["polls"])
    return {
        "polls": result["polls"], "failures": result["failures"], "requests_per_poll": requests_per_poll,
        "frame_bytes_per_poll": result["request_bytes"] + result["reply_bytes"],
        "measured_ms_per_poll": 1000 * measured_per_poll, "wire_ms_per_poll": 1000 * wire_per_poll,
        "device_ms_per_poll": 1000 * with_turnaround,
        "utilisation_of_wire": wire_per_poll / measured_per_poll,
        "utilisation_with_turnaround": with_turnaround / measured_per_poll,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/release"))
    parser.add_argument("--systems", default="1,16,64,256")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--jitter-seconds", type=float, default=20)
    parser.add_argument("--throughput-seconds", type=float, default=10)
    parser.add_argument("--python", default=os.path.join(ROOT, ".venv/bin/python"))
    parser.add_argument("--skip", default="", help="comma-separated: scale, throughput, rtu")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    work = tempfile.mkdtemp(prefix="isowatch-scale-")
    subprocess.run(["sh", "-c", f"cc -O2 -o {work}/modbus_loop {ROOT}/Benchmarks/isowatch-scale/modbus_loop.c "
                                "$(pkg-config --cflags --libs libmodbus)"], check=True)
    print(f"isowatch-scale: work files in {work}\n")

    if "scale" not in skip:
        print(f"### Scale: IT systems polled at 1 s ({args.seconds:.0f} s window per size)\n")
        print("| systems | gateways | all green after (s) | CPU (% of one core) | RSS max (MiB) | RSS peak (MiB) "
              "| poll jitter p50 / p99 / max (ms) | polls failed |")
        print("|---:|---:|---:|---:|---:|---:|---|---:|")
        for size in [int(s) for s in args.systems.split(",")]:
            r = measure_size(args.bin, work, size, args.seconds, args.jitter_seconds)
            j = r["jitter"]
            print(f"| {size} | {r['gateways']} | {r['green_after_s']} | {r['cpu_percent']:.2f} | {r['rss_mib_max']} "
                  f"| {r['rss_mib_peak']} | {j['p50_ms']} / {j['p99_ms']} / {j['max_ms']} | {j['failures']} |",
                  flush=True)
        print()

    if "throughput" not in skip:
        blocks, results = throughput(args.bin, work, args.throughput_seconds, args.python)
        shape = ", ".join(f"{b['table']} {b['address']}+{b['count']}" for b in blocks)
        print(f"### Modbus TCP throughput, one simulated Bender ISOMETER, blocks per poll: {shape}\n")
        print("| client | requests | errors | seconds | requests/s |")
        print("|---|---:|---:|---:|---:|")
        for name, r in results.items():
            errors = r.get("errors", r.get("failures", 0))
            print(f"| {name} | {r['requests']} | {errors} | {r['seconds']} | {r['per_second']:.0f} |")
        c = results["C loop on libmodbus"]["per_second"]
        ours = results["isowatch BusPoller"]["per_second"]
        py = results["pymodbus async client"]["per_second"]
        wrapper = results["isowatch ModbusConnection.read loop (no scheduler)"]["per_second"]
        print(f"\nC loop / BusPoller: {c / ours:.2f}× (target ≤ 1.3×); C loop / ModbusConnection loop: "
              f"{c / wrapper:.2f}×; BusPoller / pymodbus: {ours / py:.2f}×\n", flush=True)

    if "rtu" not in skip:
        r = rtu_utilisation(args.bin, work, args.throughput_seconds)
        print("### RTU bus utilisation, 19200 baud 8E1, one Acrel AIM-M10 polled back to back\n")
        print("| polls | failures | requests/poll | frame bytes/poll | measured ms/poll | wire minimum ms/poll "
              "| + 3 ms turnaround ms/poll | utilisation of wire maximum | of maximum with turnaround |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {r['polls']} | {r['failures']} | {r['requests_per_poll']:.0f} | {r['frame_bytes_per_poll']} "
              f"| {r['measured_ms_per_poll']:.2f} | {r['wire_ms_per_poll']:.2f} | {r['device_ms_per_poll']:.2f} "
              f"| {100 * r['utilisation_of_wire']:.1f} % | {100 * r['utilisation_with_turnaround']:.1f} % |")


if __name__ == "__main__":
    main()
