"""asyncio peer for benches/connect.rs: blackholed [::1] + working 127.0.0.1.

usage: happy_eyeballs_asyncio.py PORT ROUNDS DELAY_SECONDS

Resolution is replaced by a fixed answer ([::1], then 127.0.0.1), as the
Rust side uses a fixed resolver, so only the race is measured. Prints one
number per round: milliseconds to connect minus the delay.
"""

import asyncio
import socket
import sys
import time


async def main(port: int, rounds: int, delay: float) -> None:
    loop = asyncio.get_running_loop()

    async def fixed_getaddrinfo(host, port, *, family=0, type=0, proto=0, flags=0):
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("::1", port, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port)),
        ]

    loop.getaddrinfo = fixed_getaddrinfo
    for _ in range(rounds):
        t0 = time.perf_counter()
        transport, _ = await loop.create_connection(
            asyncio.Protocol, "dual-stack.test", port, happy_eyeballs_delay=delay
        )
        elapsed = time.perf_counter() - t0
        assert transport.get_extra_info("peername")[0] == "127.0.0.1"
        transport.close()
        print(f"{(elapsed - delay) * 1e3:.3f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
