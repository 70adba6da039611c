"""``talkinghead serve``: a WebRTC server (aiohttp + aiortc) and a small web page.

Routes
------
``GET /``                 the page (``static/index.html``): choose a portrait, speak or play a file, watch.
``GET /static/...``       its script and style (package files only).
``POST /portrait``        body = image bytes (JPEG/PNG/WebP/GIF/BMP/TIFF, at most ``max_upload_bytes`` and
                          ``max_image_pixels``) -> ``{"portrait": id}``. The image is decoded (only those
                          decoders) and registered in memory; nothing is written to disk; ids are random
                          tokens looked up in memory, so no client string ever becomes a path.
``POST /offer``           JSON ``{"sdp", "type": "offer", "portrait": id | "default", "seed", "controls"}``
                          -> the SDP answer. The offer should carry one audio track (the speech; sendrecv,
                          so the avatar's audio comes back on it) and one video transceiver (recvonly).
``GET /health``           ``{"peers": n, "max_peers": m}``.

Each peer connection gets its own :class:`~talkinghead.stream.webrtc.AvatarPeer` (one
:class:`~talkinghead.stream.session.StreamSession`); closing or losing the connection frees it, and
so does the end of its stream on the server's side (the session's ``max_audio_seconds`` reached, its
input far behind real time, a failed session). The models are shared. Malformed or oversized requests get a 4xx with a one-line reason; more
peers than ``max_peers`` get 503. The server binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DependencyError, InputLimitError, InvalidControlError, TalkingHeadError
from ..limits import Limits
from .session import DEFAULT_WINDOW, StreamSession

try:
    from aiohttp import web
    from aiortc import RTCPeerConnection, RTCSessionDescription
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise DependencyError("talkinghead serve needs aiohttp and aiortc: pip install 'talkinghead[stream]'") from e

from .webrtc import AvatarPeer

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_PORTRAIT = "default"
MAX_OFFER_BYTES = 256 * 1024  # an SDP offer is a few kB; anything near this is not one
MAX_PORTRAITS = 8  # registered uploads kept in memory (least recently used dropped)
PORTRAIT_ID_BYTES = 12
UPLOAD_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # the only decoders an upload may reach
END_GRACE_S = 1.0  # after a stream ends (input limit, failed session), its last packets leave before the close


@dataclass
class ServerConfig:
    """Settings of :class:`AvatarServer`."""

    max_peers: int = 2  # concurrent sessions (each needs most of a core on this class of CPU)
    window: int = DEFAULT_WINDOW  # motion window of every session
    max_side: int = 720  # largest side of the video sent
    limits: Limits = field(default_factory=Limits.from_env)
    slack_s: float | None = None  # RealtimeStream overrides (None: its defaults)
    margin_s: float | None = None


class RequestError(Exception):
    """A client error: becomes an HTTP 4xx with ``reason`` as body."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class AvatarServer:
    """The server's state (pipeline, registered portraits, live peers) and its aiohttp app."""

    def __init__(self, pipeline, config: ServerConfig | None = None):
        self.pipeline = pipeline
        self.config = config or ServerConfig()
        self.peers: set[AvatarPeer] = set()
        self._pcs: set = set()
        self._avatars: OrderedDict[str, object] = OrderedDict()
        self._register_lock = asyncio.Lock()  # one registration at a time (CPU heavy)
        self._starting = 0  # offers being set up (counted against max_peers)
        self._reapers: set[asyncio.Task] = set()  # one per peer: drops it when its stream ends

    # -- app ---------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.limits.max_upload_bytes,
                              middlewares=[_error_middleware])
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
        app.router.add_post("/portrait", self._portrait)
        app.router.add_post("/offer", self._offer)
        app.router.add_get("/health", self._health)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _index(self, request: web.Request) -> web.Response:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"peers": len(self.peers), "max_peers": self.config.max_peers})

    # -- portraits ---------------------------------------------------------------------------
    async def _portrait(self, request: web.Request) -> web.Response:
        size = request.content_length
        if size is None:
            raise RequestError(411, "send the image as the request body with a Content-Length")
        if size > self.config.limits.max_upload_bytes:
            raise RequestError(413, f"image is {size} bytes; the limit is {self.config.limits.max_upload_bytes}")
        if size == 0:
            raise RequestError(400, "empty body: send a JPEG/PNG/WebP portrait")
        data = await request.read()
        loop = asyncio.get_running_loop()
        image = await loop.run_in_executor(None, decode_image, data, self.config.limits.max_image_pixels)
        async with self._register_lock:
            avatar = await loop.run_in_executor(None, self.pipeline.register, image)
        token = secrets.token_urlsafe(PORTRAIT_ID_BYTES)
        self._avatars[token] = avatar
        while len(self._avatars) > MAX_PORTRAITS:
            self._avatars.popitem(last=False)
        height, width = image.shape[:2]
        return web.json_response({"portrait": token, "width": width, "height": height})

    async def avatar(self, portrait: str):
        """The registered avatar of an id from ``/portrait``, or of the embedded default."""
        if portrait == DEFAULT_PORTRAIT:
            async with self._register_lock:
                if DEFAULT_PORTRAIT not in self._avatars:
                    from ..demo import demo_portrait

                    loop = asyncio.get_running_loop()
                    self._avatars[DEFAULT_PORTRAIT] = await loop.run_in_executor(
                        None, self.pipeline.register, demo_portrait())
        if portrait not in self._avatars:
            raise RequestError(404, "unknown portrait id: upload it again with POST /portrait")
        self._avatars.move_to_end(portrait)
        return self._avatars[portrait]

    # -- peers -------------------------------------------------------------------------------
    async def _offer(self, request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_OFFER_BYTES:
            raise RequestError(413, f"offer larger than {MAX_OFFER_BYTES} bytes")
        body = await request.content.read(MAX_OFFER_BYTES + 1)
        if len(body) > MAX_OFFER_BYTES:
            raise RequestError(413, f"offer larger than {MAX_OFFER_BYTES} bytes")
        params = parse_offer(body)
        if len(self.peers) + self._starting >= self.config.max_peers:
            raise RequestError(503, f"{len(self.peers)} sessions are running (max {self.config.max_peers}); "
                                    "try again later")
        self._starting += 1
        try:
            avatar = await self.avatar(params["portrait"])
            session = StreamSession(self.pipeline, avatar, params["seed"], window=self.config.window,
                                    max_audio_seconds=self.config.limits.max_audio_seconds, **params["controls"])
        finally:
            self._starting -= 1
        peer = AvatarPeer(session, self.config.max_side, self.config.slack_s, self.config.margin_s)
        pc = RTCPeerConnection()
        self.peers.add(peer)
        self._pcs.add(pc)
        self._watch(pc, peer)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=params["sdp"], type="offer"))
            pc.addTrack(peer.video)
            pc.addTrack(peer.audio)
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, AssertionError) as e:  # aiortc's complaints about an unusable SDP
            await self._drop(pc, peer)
            raise RequestError(400, f"unusable SDP offer: {e}") from None
        peer.start()
        reaper = asyncio.ensure_future(self._drop_when_ended(pc, peer))
        self._reapers.add(reaper)
        reaper.add_done_callback(self._reapers.discard)
        return web.json_response({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})

    async def _drop_when_ended(self, pc, peer: AvatarPeer) -> None:
        """A stream that ended on the server's side (input limit reached, session failed) frees its slot."""
        await peer.ended.wait()
        await asyncio.sleep(END_GRACE_S)
        await self._drop(pc, peer)

    def _watch(self, pc, peer: AvatarPeer) -> None:
        @pc.on("track")
        def on_track(track):
            if track.kind == "audio":
                peer.attach_input(track)

        @pc.on("connectionstatechange")
        async def on_state():
            if pc.connectionState in ("failed", "closed", "disconnected"):
                await self._drop(pc, peer)

    async def _drop(self, pc, peer: AvatarPeer) -> None:
        """Free a peer: its tasks, tracks, session threads and buffers, then the connection."""
        await peer.close()
        await pc.close()
        self.peers.discard(peer)
        self._pcs.discard(pc)

    async def _shutdown(self, app) -> None:
        for reaper in list(self._reapers):
            reaper.cancel()
        await asyncio.gather(*(pc.close() for pc in list(self._pcs)), return_exceptions=True)
        await asyncio.gather(*(peer.close() for peer in list(self.peers)), return_exceptions=True)
        self.peers.clear()
        self._pcs.clear()


def parse_offer(body: bytes) -> dict:
    """Validate an /offer body -> {"sdp", "portrait", "seed", "controls"} (RequestError 400 otherwise)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):  # not JSON, a 5000-digit number, [[[[...
        raise RequestError(400, "body must be JSON: {\"sdp\": ..., \"type\": \"offer\"}") from None
    if not isinstance(data, dict):
        raise RequestError(400, "body must be a JSON object")
    sdp, kind = data.get("sdp"), data.get("type")
    if not isinstance(sdp, str) or not sdp.startswith("v=0") or kind != "offer":
        raise RequestError(400, "need \"sdp\" (an SDP offer starting with v=0) and \"type\": \"offer\"")
    portrait = data.get("portrait", DEFAULT_PORTRAIT)
    if not isinstance(portrait, str) or len(portrait) > 64:
        raise RequestError(400, "\"portrait\" must be an id from POST /portrait or \"default\"")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise RequestError(400, "\"seed\" must be a non-negative integer")
    controls = data.get("controls", {})
    if not isinstance(controls, dict):
        raise RequestError(400, "\"controls\" must be an object such as {\"pose_scale\": 0.5}")
    from ..motion.controls import Controls

    try:
        Controls.from_kwargs(**controls)
    except (InvalidControlError, TypeError) as e:
        raise RequestError(400, str(e)) from None
    return {"sdp": sdp, "portrait": portrait, "seed": seed, "controls": controls}


def decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    """Uploaded bytes -> (H, W, 3) uint8 RGB in memory (only the :data:`UPLOAD_FORMATS` decoders may
    run); InvalidImageError / InputLimitError otherwise. Nothing touches the filesystem."""
    from ..face.image_io import load_image_bytes

    return load_image_bytes(data, max_pixels, formats=UPLOAD_FORMATS, what="the uploaded image")


@web.middleware
async def _error_middleware(request: web.Request, handler):
    """Client errors -> 4xx with a one-line text reason (never a traceback)."""
    try:
        return await handler(request)
    except RequestError as e:
        return web.Response(status=e.status, text=e.reason)
    except InputLimitError as e:
        return web.Response(status=413, text=str(e))
    except TalkingHeadError as e:  # bad image, no face, bad control, ...
        return web.Response(status=422 if request.path == "/portrait" else 400, text=str(e))


async def start_server(pipeline, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                       config: ServerConfig | None = None):
    """Start serving on ``host:port`` inside a running event loop; returns (server, runner, port).
    ``port=0`` picks a free port. Stop with ``await runner.cleanup()``."""
    server = AvatarServer(pipeline, config)
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return server, runner, bound


def serve(pipeline, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, config: ServerConfig | None = None) -> None:
    """Run the server until interrupted (the ``talkinghead serve`` command)."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s: anyone who can reach this address can open sessions", host)
    server = AvatarServer(pipeline, config)
    web.run_app(server.app(), host=host, port=port, access_log=None, print=lambda msg: print(msg, flush=True))
