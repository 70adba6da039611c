"""Library-side helpers of the Gradio app (``app.py``); nothing here imports gradio.

:class:`LiveServer` runs the ``talkinghead serve`` WebRTC server (:mod:`talkinghead.stream.server`)
on its own asyncio loop in a daemon thread, sharing the caller's already loaded pipeline, so one
process serves both the offline app and the live page::

    live = LiveServer(pipeline, host="127.0.0.1", port=0)   # port 0: any free port
    port = live.start()                                      # blocks until it listens
    ...
    live.stop()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

from .errors import TalkingHeadError

START_TIMEOUT_S = 30.0  # binding a socket and building the aiohttp app take well under a second
STOP_TIMEOUT_S = 10.0


class LiveServer:
    """The WebRTC server of :mod:`talkinghead.stream.server` in a background thread.

    Args:
        pipeline: a loaded :class:`~talkinghead.TalkingHead` (shared; its models are not reloaded).
        host: address to bind (default loopback: this machine only).
        port: port to bind; 0 picks a free one (see :attr:`port` after :meth:`start`).
        config: :class:`~talkinghead.stream.server.ServerConfig` (peers, limits, window, ...).
    """

    def __init__(self, pipeline, host: str = "127.0.0.1", port: int = 0, config=None):
        if not isinstance(port, int) or not 0 <= port < 65536:
            raise TalkingHeadError(f"live server port must be in 0..65535, got {port!r}")
        self.pipeline, self.host, self.config = pipeline, host, config
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> int:
        """Start listening; returns the bound port. Raises the server's error if it cannot bind."""
        if self.running:
            return self.port
        from .stream.server import start_server  # needs the [stream] extra (DependencyError otherwise)

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="talkinghead-live", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            start_server(self.pipeline, self.host, self.port, self.config), self._loop)
        try:
            _, self._runner, self.port = future.result(START_TIMEOUT_S)
        except OSError as e:  # address in use, permission denied, ...
            self._halt()
            raise TalkingHeadError(f"live server could not listen on {self.host}:{self.port} ({e}); "
                                   "choose another port") from e
        except concurrent.futures.TimeoutError:
            self._halt()
            raise TalkingHeadError(f"live server did not start within {START_TIMEOUT_S:.0f} s") from None
        return self.port

    def stop(self) -> None:
        """Close every peer and the listening socket, then end the thread."""
        if self._loop is None:
            return
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            try:
                future.result(STOP_TIMEOUT_S)
            except concurrent.futures.TimeoutError:
                pass  # the loop is stopped below regardless; the thread is a daemon
            self._runner = None
        self._halt()

    def _halt(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(STOP_TIMEOUT_S)
        if loop is not None and not loop.is_running():
            loop.close()
        self._loop = self._thread = None
