#!/usr/bin/env python3
"""Figures and Markdown tables of the estimator benchmark (scripts/bench-estimator).

Usage: plot-estimator.py RESULTS_DIRECTORY
Reads accuracy.csv, response.csv, dc-offset.csv, alarms.csv and summary.json written by
isowatch-estimator-bench, writes accuracy.png, response.png, dc-offset.png and alarms.png
beside them, and prints the tables BENCHMARKS.md quotes.
"""
import csv
import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def rows(directory, name):
    with open(directory / name, newline="") as handle:
        return list(csv.DictReader(handle))


def plot_accuracy(directory):
    data = rows(directory, "accuracy.csv")
    figure, axes = plt.subplots(figsize=(8, 5))
    colours = {"1e-07": "tab:blue", "1e-06": "tab:orange", "5e-06": "tab:red"}
    styles = {("adaptive", "frontend"): "-o", ("adaptive", "raw"): "--s", ("fixed-pulse", "frontend"): ":^"}
    for (method, feed), style in styles.items():
        for ce, colour in colours.items():
            chosen = [r for r in data if r["method"] == method and r["feed"] == feed and r["ce_farads"] == ce]
            if not chosen:
                continue
            re = np.array([float(r["re_ohms"]) for r in chosen])
            p95 = np.array([float(r["p95_all"]) for r in chosen]) * 100
            label = f"{method} ({feed}), Ce {float(ce) * 1e6:g} µF"
            axes.plot(re, np.clip(p95, 1e-4, 1e3), style, color=colour, label=label, markersize=4, alpha=0.85)
    axes.axhline(15, color="black", linewidth=1, label="IEC 61557-8 limit 15 %")
    axes.axhline(5, color="grey", linewidth=1, linestyle="--", label="target 5 % (10 kΩ…1 MΩ)")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("true insulation resistance Re (Ω)")
    axes.set_ylabel("p95 |error| of published estimates (%)")
    axes.set_title("Accuracy with ripple, harmonics, ADC noise, quantisation, ±2 V DC offset")
    axes.legend(fontsize=6, ncol=2)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(directory / "accuracy.png", dpi=120)


def response_table(directory):
    data = rows(directory, "response.csv")
    table = {}
    for method in ("adaptive", "fixed-pulse"):
        for ce in sorted({r["ce_farads"] for r in data}, key=float):
            chosen = [r for r in data if r["method"] == method and r["ce_farads"] == ce]
            alarm = [float(r["alarm_s"]) for r in chosen]
            within = [float(r["within_15_percent_s"]) for r in chosen]
            table[(method, ce)] = (statistics.median(alarm), max(alarm), statistics.median(within), max(within))
    return table


def plot_response(directory, table):
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for method, colour in (("adaptive", "tab:green"), ("fixed-pulse", "tab:grey")):
        ces = sorted({ce for m, ce in table if m == method}, key=float)
        x = np.array([float(ce) * 1e6 for ce in ces])
        median = np.array([table[(method, ce)][0] for ce in ces])
        worst = np.array([table[(method, ce)][1] for ce in ces])
        axes.plot(x, median, "-o", color=colour, label=f"{method}: alarm, median")
        axes.plot(x, worst, ":", color=colour, label=f"{method}: alarm, worst seed")
        within = np.array([table[(method, ce)][2] for ce in ces])
        axes.plot(x, within, "--", color=colour, alpha=0.6, label=f"{method}: within 15 %, median")
    axes.axhline(2, color="black", linewidth=1, label="target 2 s at 1 µF")
    axes.set_xscale("log")
    axes.set_xlabel("leakage capacitance Ce (µF)")
    axes.set_ylabel("seconds after the step")
    axes.set_title("Step 1 MΩ → 25 kΩ (half the response value)")
    axes.legend(fontsize=7)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(directory / "response.png", dpi=120)


def plot_offset(directory):
    data = rows(directory, "dc-offset.csv")
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for re in sorted({r["re_ohms"] for r in data}, key=float):
        chosen = [r for r in data if r["re_ohms"] == re]
        x = [float(r["offset_volts"]) for r in chosen]
        y = [float(r["max_abs_relative_error"]) * 100 for r in chosen]
        axes.plot(x, y, "-o", label=f"Re {float(re) / 1e3:g} kΩ")
    axes.axhline(5, color="grey", linestyle="--", label="target 5 %")
    axes.set_yscale("log")
    axes.set_xlabel("DC offset Uoff (V), U0 = 12 V")
    axes.set_ylabel("max |error| over seeds (%)")
    axes.set_title("DC offset rejection (Ce 1 µF)")
    axes.legend(fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(directory / "dc-offset.png", dpi=120)


def plot_alarms(directory):
    data = rows(directory, "alarms.csv")
    profiles = list(dict.fromkeys(r["profile"] for r in data))
    figure, axes = plt.subplots(figsize=(9, 4.5))
    width = 0.4
    for offset, (factor, label, colour) in enumerate(
        (("2.0", "false alarms at 2× response value", "tab:red"), ("0.5", "missed alarms at 0.5×", "tab:purple"))
    ):
        values = []
        for profile in profiles:
            row = next(r for r in data if r["profile"] == profile and r["factor_of_response"] == factor)
            values.append(int(row["wrong_estimates"]))
        positions = np.arange(len(profiles)) + (offset - 0.5) * width
        axes.bar(positions, values, width, label=label, color=colour)
    hours = data[0]["hours"]
    axes.set_xticks(np.arange(len(profiles)), profiles, rotation=30, ha="right", fontsize=8)
    axes.set_ylabel("published estimates on the wrong side")
    axes.set_title(f"Alarm decisions over {float(hours):g} simulated hours per profile (Ce 1 µF)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(directory / "alarms.png", dpi=120)


def main():
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else "Benchmarks/results/estimator")
    plot_accuracy(directory)
    table = response_table(directory)
    plot_response(directory, table)
    plot_offset(directory)
    plot_alarms(directory)

    accuracy = rows(directory, "accuracy.csv")
    print("| method | feed | Re range | Ce | p50 | p95 | max (good) | not good |")
    print("|---|---|---|---|---|---|---|---|")
    for method, feed in (("adaptive", "frontend"), ("adaptive", "raw"), ("fixed-pulse", "frontend")):
        for ce in ("1e-07", "1e-06", "5e-06"):
            for name, low, high in (("10 kΩ–1 MΩ", 1e4, 1e6), ("1 kΩ–10 MΩ", 1e3, 1e7)):
                chosen = [
                    r for r in accuracy
                    if r["method"] == method and r["feed"] == feed and r["ce_farads"] == ce
                    and low <= float(r["re_ohms"]) <= high
                ]
                if not chosen:
                    continue
                p50 = max(float(r["p50_good"]) for r in chosen) * 100
                p95 = max(float(r["p95_all"]) for r in chosen) * 100
                worst = max(float(r["max_good"]) for r in chosen) * 100
                not_good = max(float(r["not_good_fraction"]) for r in chosen) * 100
                print(f"| {method} | {feed} | {name} | {float(ce) * 1e6:g} µF | {p50:.3f} % | {p95:.3f} % | "
                      f"{worst:.3f} % | {not_good:.1f} % |")
    print()
    print("| Ce | adaptive alarm median / worst | fixed-pulse alarm median / worst | gain (median) |")
    print("|---|---|---|---|")
    for ce in sorted({ce for _, ce in table}, key=float):
        a = table[("adaptive", ce)]
        b = table[("fixed-pulse", ce)]
        print(f"| {float(ce) * 1e6:g} µF | {a[0]:.2f} s / {a[1]:.2f} s | {b[0]:.2f} s / {b[1]:.2f} s | {b[0] / a[0]:.1f}× |")
    print()
    print("| profile | ×response | check | hours | estimates | wrong | not good | worst error |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows(directory, "alarms.csv"):
        print(f"| {r['profile']} | {r['factor_of_response']} | {r['check']} | {float(r['hours']):g} | {r['estimates']} | "
              f"{r['wrong_estimates']} | {float(r['not_good_fraction']) * 100:.2f} % | {float(r['worst_ratio_error']) * 100:.1f} % |")
    summary = json.loads((directory / "summary.json").read_text())
    cost = summary["cost"]
    print()
    print(f"CPU: 64 front-ends, {cost['signal_seconds']:g} s of signal each, estimated in {cost['wall_seconds']:.3f} s wall "
          f"({cost['thread_cpu_seconds']:.3f} s thread CPU): {cost['fraction_of_one_core_for_64'] * 100:.2f} % of one core for 64.")


if __name__ == "__main__":
    main()
