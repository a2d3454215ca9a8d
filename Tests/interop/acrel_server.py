#!/usr/bin/env python3
"""A Modbus server laid out like the Acrel AIM-M10 insulation monitor, written with pymodbus.

It is a third-party peer for interop tests: nothing in it comes from isowatch. Holding registers,
one word each (AIM-M10 manual):
  0x0008 insulation resistance, kOhm
  0x0009 load current, 0.1 A
  0x000A transformer temperature, degrees C (two's complement below zero)
  0x000B fault bits (low byte): bit0 insulation, bit1 overload, bit2 over-temperature,
         bit4 FE/KE (earth) disconnection, bit5 temperature-sensor disconnection

Several unit ids share one TCP port or one RTU line; ids not listed stay silent, as an absent
device on an RS-485 bus does. Prints READY on stdout once it serves.

  acrel_server.py --tcp 127.0.0.1:1502 --units 1,2 \
      --values '{"1": {"insulation_kohm": 420, "load_deciamps": 52, "temperature_c": 41, "faults": 0}}'
  acrel_server.py --rtu /dev/pts/5 --baud 19200 --parity N --units 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

FIRST_REGISTER = 0x0008
DEFAULTS = {"insulation_kohm": 999, "load_deciamps": 0, "temperature_c": 25, "faults": 0}


def register_words(values: dict) -> list[int]:
    """The four AIM-M10 words for one unit, each checked to fit 16 bits."""
    unknown = set(values) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown value name(s): {', '.join(sorted(unknown))}")
    merged = {**DEFAULTS, **values}
    words = []
    for name in ("insulation_kohm", "load_deciamps", "temperature_c", "faults"):
        value = merged[name]
        if not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if name == "temperature_c":
            if not -32768 <= value <= 32767:
                raise ValueError(f"{name} {value} does not fit a signed 16-bit register")
            value &= 0xFFFF
        elif not 0 <= value <= 0xFFFF:
            raise ValueError(f"{name} {value} does not fit an unsigned 16-bit register")
        words.append(value)
    return words


def build_devices(units: list[int], values: dict[str, dict]) -> list[SimDevice]:
    for key in values:
        if not key.isdigit() or int(key) not in units:
            raise ValueError(f"--values names unit {key}, which is not in --units")
    devices = []
    for unit in units:
        words = register_words(values.get(str(unit), {}))
        # Separate tables (coils, discrete inputs, holding, input): the AIM-M10 answers only
        # function code 3, so the holding table alone has data. Coil and discrete blocks must be
        # non-empty for pymodbus; address 0xFFFF bits are never read by any test.
        simdata = (
            [SimData(address=0xFFF0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(address=0xFFF0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(address=FIRST_REGISTER, values=words, datatype=DataType.REGISTERS)],
            [SimData(address=0xFFFF, datatype=DataType.INVALID)],
        )
        devices.append(SimDevice(id=unit, simdata=simdata))
    return devices


class SilentForUnknownUnits:
    """Wraps the server's datastore so an unlisted unit id gets no reply at all.

    pymodbus 3.16.1 looks a unit up in a plain dict and lets KeyError escape, which the request
    handler turns into a "device failure" exception reply; a real bus is silent instead, and
    ignore_missing_devices only honours NoSuchIdException.
    """

    def __init__(self, store, units: list[int]):
        self._store = store
        self._units = set(units)

    def device_ids(self) -> list[int]:
        return sorted(self._units)

    def _check(self, device_id: int) -> None:
        if device_id not in self._units:
            raise NoSuchIdException(f"unit {device_id} is not on this bus")

    async def async_getValues(self, device_id, func_code, address, count=1):
        self._check(device_id)
        return await self._store.async_getValues(device_id, func_code, address, count)

    async def async_setValues(self, device_id, func_code, address, values):
        self._check(device_id)
        return await self._store.async_setValues(device_id, func_code, address, values)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Acrel AIM-M10 register map served by pymodbus")
    transport = parser.add_mutually_exclusive_group(required=True)
    transport.add_argument("--tcp", metavar="HOST:PORT", help="serve Modbus/TCP on HOST:PORT")
    transport.add_argument("--rtu", metavar="DEVICE", help="serve Modbus RTU on a serial device or pty")
    parser.add_argument("--baud", type=int, default=9600, help="RTU baud rate (AIM-M10 default 9600)")
    parser.add_argument("--parity", choices=["N", "E", "O"], default="N", help="RTU parity")
    parser.add_argument("--units", default="1", help="comma-separated unit ids that answer (default 1)")
    parser.add_argument("--values", default="{}", help="JSON object: unit id -> register values")
    arguments = parser.parse_args(argv)
    try:
        arguments.units = [int(unit) for unit in arguments.units.split(",") if unit.strip()]
    except ValueError:
        parser.error(f"--units must be comma-separated integers, got {arguments.units!r}")
    if not arguments.units or any(not 1 <= unit <= 247 for unit in arguments.units):
        parser.error("--units must list ids from 1 to 247")
    try:
        arguments.values = json.loads(arguments.values)
    except json.JSONDecodeError as error:
        parser.error(f"--values is not JSON: {error}")
    if not isinstance(arguments.values, dict) or not all(isinstance(v, dict) for v in arguments.values.values()):
        parser.error('--values must look like {"1": {"insulation_kohm": 420}}')
    if arguments.tcp:
        host, _, port = arguments.tcp.rpartition(":")
        if not host or not port.isdigit():
            parser.error(f"--tcp must be HOST:PORT, got {arguments.tcp!r}")
        arguments.tcp = (host, int(port))
    return arguments


async def serve(arguments: argparse.Namespace) -> None:
    devices = build_devices(arguments.units, arguments.values)
    if arguments.tcp:
        server = ModbusTcpServer(devices, address=arguments.tcp, ignore_missing_devices=True)
    else:
        server = ModbusSerialServer(
            devices,
            port=arguments.rtu,
            baudrate=arguments.baud,
            parity=arguments.parity,
            ignore_missing_devices=True,
        )
    server.context = SilentForUnknownUnits(server.context, arguments.units)
    await server.serve_forever(background=True)
    # A test harness stops the peer with SIGTERM; that is a normal end, not a crash.
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, lambda: server.serving.done() or server.serving.set_result(True))
    print("READY", flush=True)
    try:
        await server.serving
    finally:
        await server.shutdown()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    arguments = parse_arguments(argv)
    try:
        asyncio.run(serve(arguments))
    except ValueError as error:
        print(f"acrel_server: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
