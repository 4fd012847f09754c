r"""Signed POSTs whose chunked bodies come a byte per chunk, as fast as they go, never ended.

    python3 benches/edge/chunks.py PORT QUERY CONNECTIONS SECONDS

Each connection sends the head with QUERY (a valid signed query: a captured one, within the replay
window, does as well), then `1\r\na\r\n` chunks for SECONDS, and closes. Prints how many chunks it
wrote (into its sockets; the server reads what its deadline and budget let it). See
benches/edge-chunks.sh.
"""
import asyncio
import sys
import time

PORT, QUERY, CONNECTIONS, SECONDS = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
BLOCK = 2000
written = 0


async def one():
    global written
    _, writer = await asyncio.open_connection("127.0.0.1", PORT)
    writer.write(f"POST /?{QUERY} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    block = b"1\r\na\r\n" * BLOCK
    end = time.monotonic() + SECONDS
    try:
        while time.monotonic() < end:
            writer.write(block)
            await writer.drain()
            written += BLOCK
    except (ConnectionError, OSError):
        pass
    writer.close()


async def main():
    await asyncio.gather(*(one() for _ in range(CONNECTIONS)))


asyncio.run(main())
print(f"{written} chunks written")
