"""A bounded hand-over queue between threads, with an asyncio side and a clean shutdown.

:class:`Channel` connects the stages of a :class:`~talkinghead.stream.session.StreamSession`:
producers block while it is full (back-pressure keeps memory bounded), consumers block (or
``await``) while it is empty. ``end()`` says no more items will come; ``close()`` wakes every
waiter and drops the items (used when a session is closed).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable


class ChannelClosed(Exception):
    """The channel was closed while a producer waited for room."""


END = object()  # returned by get() once the channel has ended (or closed) and is empty


class Channel:
    """Bounded FIFO; ``weigh(item)`` is an item's share of ``capacity`` (1 by default).

    An item is admitted whenever the current load is below capacity, so a single item heavier than
    the capacity still passes (it is never deadlocked).
    """

    def __init__(self, capacity: float, weigh: Callable[[object], float] | None = None):
        self.capacity = capacity
        self._weigh = weigh or (lambda item: 1)
        self._items: deque = deque()
        self._load = 0.0
        self._cond = threading.Condition()
        self._ended = False
        self._closed = False
        self._error: BaseException | None = None
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []

    @property
    def load(self) -> float:
        return self._load

    def __len__(self) -> int:
        return len(self._items)

    @property
    def exhausted(self) -> bool:
        """Ended (or closed) and drained: get() returns END at once."""
        return self._ended and not self._items

    def put(self, item, block: bool = True, timeout: float | None = None) -> bool:
        """Append ``item``; waits for room when ``block``. Returns False when there was no room
        (non-blocking, or the timeout passed); raises :class:`ChannelClosed` after ``close()``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._load >= self.capacity and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if not block or (remaining is not None and remaining <= 0):
                    return False
                self._cond.wait(remaining)
            if self._closed:
                raise ChannelClosed()
            self._items.append(item)
            self._load += self._weigh(item)
            self._wake_locked()
        return True

    def get(self, timeout: float | None = None):
        """The next item, or :data:`END` once ended and drained; re-raises a stage's error;
        raises ``TimeoutError`` when ``timeout`` passes first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                item = self._take_locked()
                if item is not None:
                    return item[0]
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no item within the timeout")
                self._cond.wait(remaining)

    def poll(self):
        """The next item without waiting, :data:`END`, or None when nothing is there yet."""
        with self._cond:
            item = self._take_locked()
            return None if item is None else item[0]

    async def aget(self):
        """``await`` the next item (or :data:`END`) without blocking the event loop."""
        loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                item = self._take_locked()
                if item is not None:
                    return item[0]
                future = loop.create_future()
                self._async_waiters.append((loop, future))
            await future

    def end(self, error: BaseException | None = None) -> None:
        """No more items will be put; ``error`` (if any) is raised to consumers after the items."""
        with self._cond:
            self._ended = True
            self._error = self._error or error
            self._wake_locked()

    def close(self) -> None:
        """Drop the items and wake everyone: producers get :class:`ChannelClosed`, consumers :data:`END`."""
        with self._cond:
            self._closed = self._ended = True
            self._items.clear()
            self._load = 0.0
            self._wake_locked()

    def _take_locked(self):
        """(item,) when one is ready, (END,) when finished, None when the caller must wait."""
        if self._items:
            item = self._items.popleft()
            self._load -= self._weigh(item)
            self._wake_locked()
            return (item,)
        if self._ended:
            if self._error is not None and not self._closed:
                raise self._error
            return (END,)
        return None

    def _wake_locked(self) -> None:
        self._cond.notify_all()
        waiters, self._async_waiters = self._async_waiters, []
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # that event loop is closed: nobody waits there any more
                pass


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
