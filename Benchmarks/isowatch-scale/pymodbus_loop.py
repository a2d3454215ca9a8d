"""What a user would script instead of isowatch: pymodbus's async TCP client reading the same
register blocks back to back for a fixed time. Prints one JSON object like modbus_loop.c.

    python pymodbus_loop.py HOST PORT UNIT SECONDS TABLE:ADDRESS:COUNT...
"""
import asyncio
import json
import sys
import time

from pymodbus.client import AsyncModbusTcpClient


async def main():
    host, port, unit, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    blocks = [(t, int(a), int(c)) for t, a, c in (b.split(":") for b in sys.argv[5:])]
    client = AsyncModbusTcpClient(host, port=port, timeout=0.5, retries=0)
    await client.connect()
    polls = requests = errors = 0
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        for table, address, count in blocks:
            read = client.read_holding_registers if table == "h" else client.read_input_registers
            try:
                reply = await read(address, count=count, device_id=unit)
                if reply.isError() or len(reply.registers) != count:
                    errors += 1
            except Exception:
                errors += 1
            requests += 1
        polls += 1
    elapsed = time.monotonic() - start
    client.close()
    print(json.dumps({"polls": polls, "requests": requests, "errors": errors, "seconds": round(elapsed, 3)}))


asyncio.run(main())
