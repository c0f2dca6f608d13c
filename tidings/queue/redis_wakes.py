"""Wake-ups between processes over Redis pub/sub: the distributed profile's `announce`/`listen`.

Some work reaches the workers through the database rather than the dispatch stream: webhook rows
and Conversation API work an API process commits (inbound messages from the platforms' webhooks,
verification results, contact changes, a cancel's reports, messages accepted for the engine). The
workers find it by polling; an announcement makes them look at once. An API process
`announce(topic)`s on the channel `{prefix}{topic}`; each worker `listen`s to its topics and
calls the handler of each announcement; a listener that hears nothing for a while pings Redis to
find out whether its connection is still there (`HEALTH_CHECK_SECONDS`).

Pub/sub delivers to whoever listens at that moment and keeps nothing, which is all a wake-up
needs: the work is committed before anyone is told, so an announcement lost with a dropped
connection only leaves the work to the next poll. A listener that (re)subscribes calls every
handler once, for what was announced while it was away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from tidings.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)  # seconds between tries, the last repeated
HEALTH_CHECK_SECONDS = 30.0
"""A listener that heard nothing for this long pings Redis, and subscribes again on a new
connection when the ping goes unanswered as long: a connection cut without a reset (a host or
network gone) would otherwise wait for TCP keepalive, for hours, while announcements are lost."""
CLOSE_TIMEOUT = 2.0  # how long `aclose` lets the announcements in flight finish


class RedisWakes:
    """Announcements on `{prefix}{topic}` channels of one Redis client (not closed here).

    `announce` is synchronous (a hook after a commit calls it): it starts one PUBLISH per topic
    and, while that is in flight, folds further announcements of the topic into one more after
    it, so a burst of commits costs two round trips, not one each."""

    def __init__(self, redis: Any, prefix: str, *, health_check_seconds: float = HEALTH_CHECK_SECONDS) -> None:
        self._redis = redis
        self.prefix = prefix
        self.health_check_seconds = health_check_seconds
        self._publishing: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self.published = 0  # PUBLISH commands that reached Redis

    def channel(self, topic: str) -> str:
        return self.prefix + topic

    def announce(self, topic: str) -> None:
        task = self._publishing.get(topic)
        if task is not None and not task.done():
            self._again.add(topic)
            return
        self._publishing[topic] = asyncio.get_running_loop().create_task(
            self._publish(topic), name=f"announce {topic}")

    async def _publish(self, topic: str) -> None:
        while True:
            self._again.discard(topic)
            try:
                await self._redis.publish(self.channel(topic), b"1")
                self.published += 1
            except Exception:  # noqa: BLE001 - Redis away: the workers' poll finds the work
                log.warning("announcing %s over Redis failed; the workers' poll will find it", topic,
                            exc_info=True)
            if topic not in self._again:
                return

    async def listen(self, handlers: Mapping[str, Callable[[], None]]) -> None:
        """Call `handlers[topic]()` for each announcement of a topic, until cancelled; after each
        (re)subscription, every handler once."""
        by_channel = {self.channel(topic).encode(): handler for topic, handler in handlers.items()}
        failures = 0
        while True:
            # Subscription confirmations are read as messages too: None then means silence.
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(*by_channel)
                failures = 0
                for handler in by_channel.values():
                    _call(handler)
                pinged = False
                while True:
                    message = await pubsub.get_message(timeout=self.health_check_seconds)
                    if message is None:
                        if pinged:
                            raise ConnectionError("Redis did not answer a ping on the pub/sub connection")
                        await pubsub.ping()
                        pinged = True
                        continue
                    pinged = False  # anything heard (a pong, a confirmation) shows the connection alive
                    if message.get("type") == "message":
                        announced = by_channel.get(_bytes(message.get("channel")))
                        if announced is not None:
                            _call(announced)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis away: subscribe again after a pause
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                log.warning("listening for announcements over Redis failed; again in %.1fs", delay,
                            exc_info=failures == 1)
                await asyncio.sleep(delay)
            finally:
                await _close_quietly(pubsub)

    async def aclose(self) -> None:
        """Let the announcements in flight reach Redis (cut off after `CLOSE_TIMEOUT`)."""
        tasks = [task for task in self._publishing.values() if not task.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
            await cancel_and_wait(late)


def _call(handler: Callable[[], None]) -> None:
    try:
        handler()
    except Exception:  # noqa: BLE001 - one handler's bug must not end the listener
        log.exception("a wake-up handler failed")


def _bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value or b"")


async def _close_quietly(pubsub: Any) -> None:
    try:
        await pubsub.aclose()
    except Exception:  # noqa: BLE001 - closing a connection that already broke
        log.debug("closing a pub/sub connection failed", exc_info=True)
