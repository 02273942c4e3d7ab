"""CPython asyncio's datagram endpoint on the workload of benches/datagram.rs.

Two connected UDP endpoints on 127.0.0.1 made by
loop.create_datagram_endpoint; the sender sends a burst of BURST datagrams
of SIZE bytes, the receiver's protocol counts them, and the next burst goes
when all have arrived (or after a second, counting the rest lost).
Prints every round and a line "  asyncio median <datagrams/s> datagrams/s".
"""

import argparse
import asyncio
import statistics
import time


class Receiver(asyncio.DatagramProtocol):
    def __init__(self):
        self.received = 0
        self.want = 0
        self.waiter = None

    def datagram_received(self, data, addr):
        self.received += 1
        if self.waiter is not None and self.received >= self.want:
            if not self.waiter.done():
                self.waiter.set_result(None)


async def one_round(tx, rx, count, size, burst):
    loop = asyncio.get_running_loop()
    payload = b"\x5a" * size
    rx.received = 0
    lost = 0
    sent = 0
    start = time.perf_counter()
    while sent < count:
        n = min(burst, count - sent)
        rx.want = rx.received + n
        rx.waiter = loop.create_future()
        for _ in range(n):
            tx.sendto(payload)
        sent += n
        try:
            await asyncio.wait_for(rx.waiter, 1.0)
        except asyncio.TimeoutError:
            lost += rx.want - rx.received
    elapsed = time.perf_counter() - start
    return rx.received / elapsed, lost


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=40_000)
    p.add_argument("--rounds", type=int, default=25)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--burst", type=int, default=32)
    args = p.parse_args()

    loop = asyncio.get_running_loop()
    rx_transport, rx = await loop.create_datagram_endpoint(
        Receiver, local_addr=("127.0.0.1", 0)
    )
    rx_addr = rx_transport.get_extra_info("sockname")
    tx_transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0), remote_addr=rx_addr
    )
    await one_round(tx_transport, rx, args.count // 10, args.size, args.burst)
    rates, lost = [], 0
    for _ in range(args.rounds):
        rate, l = await one_round(tx_transport, rx, args.count, args.size, args.burst)
        rates.append(rate)
        lost += l
    tx_transport.close()
    rx_transport.close()
    print("  asyncio rounds:              " + " ".join(f"{r / 1e3:.0f}k" for r in rates))
    print(f"  asyncio median             {statistics.median(rates):>10.0f} datagrams/s"
          + (f" ({lost} lost)" if lost else ""))


if __name__ == "__main__":
    asyncio.run(main())
