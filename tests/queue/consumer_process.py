"""A dispatch consumer run as its own process by the multi-process tests.

    python consumer_process.py REDIS_URL STREAM CONSUMER hold    take once, print, wait to be killed
    python consumer_process.py REDIS_URL STREAM CONSUMER drain   print "ready", then take and ack
                                                                 until the stream is empty; print
"""

from __future__ import annotations

import asyncio
import json
import sys

from tidings.queue.redis_streams import RedisStreamsDispatchQueue


async def main(redis_url: str, stream: str, consumer: str, mode: str) -> None:
    queue = RedisStreamsDispatchQueue(redis_url, stream=stream, consumer=consumer, ids_per_entry=8)
    try:
        if mode == "hold":
            taken = await queue.take(16, 5.0)
            print(json.dumps(taken.ids if taken else []), flush=True)
            await asyncio.sleep(3600)
            return
        print("ready", flush=True)
        seen: list[int] = []
        give_up = asyncio.get_running_loop().time() + 10.0
        while True:
            taken = await queue.take(16, 0.2)
            if taken is None:
                drained = await queue.backlog() == 0
                if drained and (seen or asyncio.get_running_loop().time() > give_up):
                    break
                continue
            seen.extend(taken.ids)
            await queue.ack(taken)
            await asyncio.sleep(0.001)  # let the other processes have a turn
        print(json.dumps(seen), flush=True)
    finally:
        await queue.aclose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
