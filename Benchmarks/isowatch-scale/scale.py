#!/usr/bin/env python3
"""Scale benchmark of isowatch (issue 7 §3), driven by scripts/bench-scale.

1. Scale: for each size N (1, 16, 64, 256 IT systems; Bender ISOMETER units, 16 per simulated
   Modbus TCP gateway, polled at 1 s), isowatch-sim serves the site in one process and the
   release `isowatch run` polls it in another, with 4 relays per system on the simulated GPIO
   backend. Once every system is green: CPU share of one core (utime + stime from /proc over the
   window) and resident memory (VmRSS sampled each second, and VmHWM). Then the same poll
   schedule's jitter (one BusPoller per gateway, each unit at 1 s: deviation of each device's
   poll-to-poll interval from 1 s) by `isowatch-scale jitter` against the same simulator.
2. Modbus TCP throughput against one simulated unit: a minimal C loop on libmodbus (the
   library's ceiling), isowatch's BusPoller polling back to back (`isowatch-scale throughput`,
   with and without the profile's decoding), isowatch's libmodbus wrapper in a bare loop, and
   pymodbus's async client; same register blocks, same simulator, clients interleaved over several
   rounds, once with simulator and client pinned to one core and once to two (see PLACEMENTS).
3. RTU bus utilisation at 19200 baud 8E1: the BusPoller and the C loop, each polling an Acrel
   AIM-M10 on a fresh simulator RTU bus (a pty; the simulator times frames and the 3 ms slave
   turnaround as on a wire), against the theoretical maximum for the same requests: frame bytes
   × 11 bits / baud plus the 3.5-character silent interval after every frame (Modbus over Serial
   Line V1.02 §2.5.1.1), without and with the turnaround.

Prints a Markdown report. The reading-to-relay latency per size comes from isowatch-bench
(`./scripts/bench --systems 1,16,64,256`), which runs simulator and service in one process so
that both ends of the latency are stamped on one clock; this script does not duplicate it.
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


THROUGHPUT_CLIENTS = [
    "C loop on libmodbus",
    "isowatch BusPoller",
    "isowatch BusPoller, decoding skipped",
    "isowatch ModbusConnection.read loop (no scheduler)",
    "pymodbus async client",
]

# Where the simulator and the client run. On this kind of machine (a VM) a wake-up sent to an idle
# vCPU costs far more than the work of a request, so with the two on different cores every client
# is held to the same wake-up rate and the ratios shrink towards 1; on one core the rate is set by
# the CPU work per request, client and server together, which is what tells clients apart.
PLACEMENTS = {
    "one core (simulator and client on CPU 0)": ("0", "0"),
    "two cores (simulator on CPU 1, client on CPU 0)": ("1", "0"),
}


def throughput_client(name, bin_dir, work, python, port, seconds, spec, cpu):
    pin = ["taskset", "-c", cpu]
    scale = [f"{bin_dir}/isowatch-scale", "throughput", "--tcp", f"127.0.0.1:{port}", "--unit", "1",
             "--profile", "bender-isometer", "--seconds", str(seconds)]
    command = {
        "C loop on libmodbus": [os.path.join(work, "modbus_loop"), "127.0.0.1", str(port), "1", str(seconds)] + spec,
        "isowatch BusPoller": scale,
        "isowatch BusPoller, decoding skipped": scale + ["--decode", "none"],
        "isowatch ModbusConnection.read loop (no scheduler)": scale + ["--scheduler", "none"],
        "pymodbus async client": [python, os.path.join(ROOT, "Benchmarks/isowatch-scale/pymodbus_loop.py"),
                                  "127.0.0.1", str(port), "1", str(seconds)] + spec,
    }[name]
    result = json.loads(subprocess.run(pin + command, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    result["per_second"] = result["requests"] / result["seconds"]
    result["errors"] = result.get("errors", result.get("failures", 0))
    return result


def throughput(bin_dir, work, seconds, rounds, python):
    """Every client in turn against one simulator per placement, `rounds` times over, so that a
    ratio is always taken between runs made minutes apart at most."""
    blocks = json.loads(subprocess.run(
        [f"{bin_dir}/isowatch-scale", "blocks", "--profile", "bender-isometer"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    spec = [f"{b['table'][0]}:{b['address']}:{b['count']}" for b in blocks]
    cpus = os.cpu_count() or 1
    results = {}
    for placement, (server_cpu, client_cpu) in PLACEMENTS.items():
        if max(int(server_cpu), int(client_cpu)) >= cpus:
            continue
        port = free_port()
        site = os.path.join(work, f"site-throughput-{port}.yaml")
        open(site, "w").write(tcp_site([port], 1))
        log = open(os.path.join(work, f"throughput-{port}.log"), "w")
        simulator = start(["taskset", "-c", server_cpu, f"{bin_dir}/isowatch-sim", "serve", "--site", site,
                           "--no-control"], log)
        try:
            wait_for_port(port)
            runs = {name: [] for name in THROUGHPUT_CLIENTS}
            for _ in range(rounds):
                for name in THROUGHPUT_CLIENTS:
                    runs[name].append(throughput_client(name, bin_dir, work, python, port, seconds, spec, client_cpu))
            results[placement] = runs
        finally:
            stop(simulator)
    return blocks, results


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def rtu_site(path, link):
    open(path, "w").write(f"""name: isowatch RTU utilisation
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


def rtu_client(name, bin_dir, work, seconds, blocks):
    """One client against a simulator of its own: on this kernel a second libmodbus client on the
    same simulator pty fails to connect with EINVAL (its even parity does not stick), so each
    client starts afresh."""
    link = os.path.join(work, "rtu0")
    site = os.path.join(work, "site-rtu.yaml")
    rtu_site(site, link)
    log = open(os.path.join(work, "rtu.log"), "a")
    simulator = start([f"{bin_dir}/isowatch-sim", "serve", "--site", site, "--no-control"], log)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(link):
            if time.monotonic() > deadline:
                raise RuntimeError("the simulator's RTU link did not appear")
            time.sleep(0.1)
        if name == "C loop on libmodbus":
            spec = [f"{b['table'][0]}:{b['address']}:{b['count']}" for b in blocks]
            command = [os.path.join(work, "modbus_loop"), link, "19200:E", "1", str(seconds)] + spec
        else:
            command = [f"{bin_dir}/isowatch-scale", "throughput", "--rtu", link, "--baud", "19200", "--parity", "E",
                       "--unit", "1", "--profile", "acrel-aim-m10", "--seconds", str(seconds)]
        result = json.loads(subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        result["failures"] = result.get("failures", result.get("errors", 0))
        return result
    finally:
        stop(simulator)


def rtu_utilisation(bin_dir, work, seconds, rounds):
    blocks = json.loads(subprocess.run(
        [f"{bin_dir}/isowatch-scale", "blocks", "--profile", "acrel-aim-m10"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    runs = {"C loop on libmodbus": [], "isowatch BusPoller": []}
    for _ in range(rounds):
        for name in runs:
            runs[name].append(rtu_client(name, bin_dir, work, seconds, blocks))
    requests_per_poll = len(blocks)
    # Address, function, 4 bytes, CRC; address, function, byte count, the words, CRC.
    request_bytes = 8 * requests_per_poll
    reply_bytes = sum(5 + 2 * b["count"] for b in blocks)
    character = 11 / 19200
    gap = 3.5 * character
    turnaround = 0.003
    # Modbus over Serial Line V1.02 §2.5.1.1: every frame is followed by at least 3.5 characters of silence.
    wire = (request_bytes + reply_bytes) * character + 2 * gap * requests_per_poll
    with_turnaround = wire + turnaround * requests_per_poll
    # What the simulator holds each exchange to (SerialLine.exchangeSeconds): both frames, the
    # silence that ends the request, the turnaround; nothing after the reply.
    simulated = (request_bytes + reply_bytes) * character + (gap + turnaround) * requests_per_poll
    rows = {}
    for name, results in runs.items():
        polls = sum(r["polls"] for r in results)
        seconds_total = sum(r["seconds"] for r in results)
        per_poll = seconds_total / max(1, polls)
        rows[name] = {
            "polls": polls, "failures": sum(r["failures"] for r in results), "ms_per_poll": 1000 * per_poll,
            "runs_ms": [1000 * r["seconds"] / max(1, r["polls"]) for r in results],
            "of_wire": wire / per_poll, "of_with_turnaround": with_turnaround / per_poll,
        }
    return {
        "requests_per_poll": requests_per_poll, "frame_bytes_per_poll": request_bytes + reply_bytes,
        "wire_ms": 1000 * wire, "with_turnaround_ms": 1000 * with_turnaround, "simulated_ms": 1000 * simulated,
        "rows": rows,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build/release"))
    parser.add_argument("--systems", default="1,16,64,256")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--jitter-seconds", type=float, default=20)
    parser.add_argument("--throughput-seconds", type=float, default=5, help="per client and round")
    parser.add_argument("--rounds", type=int, default=3, help="throughput and RTU rounds")
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
        blocks, results = throughput(args.bin, work, args.throughput_seconds, args.rounds, args.python)
        shape = ", ".join(f"{b['table']} {b['address']}+{b['count']}" for b in blocks)
        print(f"### Modbus TCP throughput, one simulated Bender ISOMETER, blocks per poll: {shape}\n")
        print(f"{args.rounds} rounds of {args.throughput_seconds:.0f} s per client, clients interleaved; "
              "requests/s as median (min-max) over the rounds; ratios taken within each round.\n")
        for placement, runs in results.items():
            print(f"**{placement}**\n")
            print("| client | requests/s median (min-max) | errors | C loop ÷ client, median (min-max) |")
            print("|---|---:|---:|---:|")
            c_rates = [r["per_second"] for r in runs["C loop on libmodbus"]]
            for name in THROUGHPUT_CLIENTS:
                rates = [r["per_second"] for r in runs[name]]
                ratios = [c / rate for c, rate in zip(c_rates, rates)]
                errors = sum(r["errors"] for r in runs[name])
                print(f"| {name} | {median(rates):.0f} ({min(rates):.0f}-{max(rates):.0f}) | {errors} "
                      f"| {median(ratios):.2f}× ({min(ratios):.2f}-{max(ratios):.2f}) |")
            ours = [r["per_second"] for r in runs["isowatch BusPoller"]]
            py = [r["per_second"] for r in runs["pymodbus async client"]]
            print(f"\nC loop ÷ BusPoller: {median([c / o for c, o in zip(c_rates, ours)]):.2f}× (target ≤ 1.3×); "
                  f"BusPoller ÷ pymodbus: {median([o / p for o, p in zip(ours, py)]):.2f}×\n", flush=True)

    if "rtu" not in skip:
        r = rtu_utilisation(args.bin, work, args.throughput_seconds, args.rounds)
        print("### RTU bus utilisation, 19200 baud 8E1, one Acrel AIM-M10 polled back to back\n")
        print(f"Per poll: {r['requests_per_poll']} request(s), {r['frame_bytes_per_poll']} frame bytes. "
              f"Theoretical minimum on the wire (frames + 3.5-character silence after each frame): "
              f"{r['wire_ms']:.2f} ms; with the device's 3 ms turnaround: {r['with_turnaround_ms']:.2f} ms; "
              f"what the simulator holds an exchange to (frames, the silence after the request, the "
              f"turnaround): {r['simulated_ms']:.2f} ms.\n")
        print("| client | polls | failures | measured ms/poll (per round) | utilisation of wire maximum "
              "| of maximum with turnaround |")
        print("|---|---:|---:|---|---:|---:|")
        for name, row in r["rows"].items():
            rounds = ", ".join(f"{ms:.2f}" for ms in row["runs_ms"])
            print(f"| {name} | {row['polls']} | {row['failures']} | {row['ms_per_poll']:.2f} ({rounds}) "
                  f"| {100 * row['of_wire']:.1f} % | {100 * row['of_with_turnaround']:.1f} % |")
        print()


if __name__ == "__main__":
    main()
