#!/usr/bin/env python3
"""A one-shot Modbus register reader written with pymodbus: a third-party client for interop tests.

Prints the registers as a JSON list and exits 0, or prints an error on stderr and exits 1.

  read_client.py --tcp 127.0.0.1:1502 --unit 1 --table holding --address 8 --count 4
  read_client.py --rtu /dev/pts/6 --baud 19200 --parity N --unit 1 --address 8 --count 4
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException

TIMEOUT_SECONDS = 1.0
RETRIES = 1


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="read Modbus registers and print them as JSON")
    transport = parser.add_mutually_exclusive_group(required=True)
    transport.add_argument("--tcp", metavar="HOST:PORT")
    transport.add_argument("--rtu", metavar="DEVICE")
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--parity", choices=["N", "E", "O"], default="N")
    parser.add_argument("--unit", type=int, default=1, help="unit id (device id), 0-247")
    parser.add_argument("--table", choices=["holding", "input"], default="holding")
    parser.add_argument("--address", type=lambda text: int(text, 0), required=True, help="0-based; 0x prefix allowed")
    parser.add_argument("--count", type=int, default=1)
    arguments = parser.parse_args(argv)
    if not 0 <= arguments.unit <= 247:
        parser.error("--unit must be 0-247")
    if not 0 <= arguments.address <= 0xFFFF or not 1 <= arguments.count <= 125:
        parser.error("--address must be 0-65535 and --count 1-125")
    if arguments.tcp:
        host, _, port = arguments.tcp.rpartition(":")
        if not host or not port.isdigit():
            parser.error(f"--tcp must be HOST:PORT, got {arguments.tcp!r}")
        arguments.tcp = (host, int(port))
    return arguments


def main(argv: list[str]) -> int:
    # pymodbus logs every retry at ERROR level; the single error line below is what callers read.
    logging.basicConfig(level=logging.CRITICAL)
    arguments = parse_arguments(argv)
    if arguments.tcp:
        host, port = arguments.tcp
        client = ModbusTcpClient(host, port=port, timeout=TIMEOUT_SECONDS, retries=RETRIES)
        target = f"{host}:{port}"
    else:
        client = ModbusSerialClient(
            port=arguments.rtu,
            framer=FramerType.RTU,
            baudrate=arguments.baud,
            parity=arguments.parity,
            timeout=TIMEOUT_SECONDS,
            retries=RETRIES,
        )
        target = arguments.rtu
    try:
        if not client.connect():
            print(f"error: cannot connect to {target}", file=sys.stderr)
            return 1
        read = client.read_holding_registers if arguments.table == "holding" else client.read_input_registers
        response = read(arguments.address, count=arguments.count, device_id=arguments.unit)
    except ModbusException as error:
        print(f"error: unit {arguments.unit} at {target}: {error}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if response.isError():
        print(f"error: unit {arguments.unit} at {target} answered with an exception: {response}", file=sys.stderr)
        return 1
    print(json.dumps(response.registers))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
