"""How many calls are in flight to one server: at most the model's setting, fewer while the server struggles.

A self-hosted server often answers one request at a time; sending it eight means seven wait in its queue,
time out on our side, and are worked through anyway after we gave up. So a timeout or a 429 halves the
number of calls in flight (at most once per `cooldown` seconds, so one burst of timeouts counts once), and
every `limit` answers in a row without trouble let one more call in, up to the ceiling again.
"""

import asyncio
import time


class AdaptiveLimit:
    def __init__(self, ceiling: int, *, cooldown: float = 2.0):
        self.ceiling = max(1, ceiling)
        self.limit = self.ceiling
        self.in_flight = 0
        self.lowest = self.ceiling  # for reports and tests: how far it backed off
        self._streak = 0
        self._cooldown = cooldown
        self._last_cut = float("-inf")
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

    async def release(self, *, success: bool) -> None:
        """A call ended; a successful one counts towards letting one more call in."""
        async with self._changed:
            self.in_flight -= 1
            if success:
                self._streak += 1
                if self._streak >= self.limit and self.limit < self.ceiling:
                    self.limit += 1
                    self._streak = 0
            self._changed.notify_all()

    def pressure(self) -> None:
        """A timeout or a 429 seen (maybe before a retry): fewer calls in flight from now on."""
        self._cut()

    def _cut(self) -> None:
        now = time.monotonic()
        self._streak = 0
        if now - self._last_cut < self._cooldown:
            return
        self._last_cut = now
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
