"""Server safety: concurrent sessions and offline jobs do not affect each other's output; four WebRTC
peers at once over loopback; a client that vanishes (killed) and a stream that hits the audio limit
free their sessions; malformed or oversized signalling and uploads get 4xx and never crash the
server; client-supplied names and paths never reach the filesystem; loopback is the default bind."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

aiohttp = pytest.importorskip("aiohttp")
aiortc = pytest.importorskip("aiortc")

from talkinghead.audio.io import load_audio  # noqa: E402
from talkinghead.demo import demo_speech  # noqa: E402
from talkinghead.limits import Limits  # noqa: E402
from talkinghead.stream import StreamSession  # noqa: E402
from talkinghead.stream.server import DEFAULT_HOST, ServerConfig, start_server  # noqa: E402
from talkinghead.timing import SAMPLE_RATE  # noqa: E402

from test_serve import Client, SpeechTrack, _png, _until, loopback_ice, th  # noqa: E402,F401 (fixtures: th, loopback_ice)

JOB_AUDIO_S = 0.6  # per concurrent job (15 frames): what matters is overlap, not length
PEERS = 4


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return load_audio(str(demo_speech()))


@pytest.fixture(scope="module")
def portraits(astronaut) -> dict[str, np.ndarray]:
    """Four portraits of four sizes (the size of the video a peer receives tells whose portrait it is)."""
    pad = lambda a, rows, cols: np.pad(a, ((0, rows), (0, cols), (0, 0)), mode="edge")  # noqa: E731
    return {"square": astronaut, "wide": pad(astronaut, 0, 64), "tall": pad(astronaut, 64, 0),
            "narrow": np.ascontiguousarray(astronaut[:, 32:480])}


@pytest.fixture(scope="module")
def avatars(th, portraits) -> dict:
    return {name: th.register(image) for name, image in portraits.items()}


# -- isolation: sessions and offline jobs on one shared pipeline ---------------------------------------
def _stream_job(th, avatar, audio, seed, window, controls):
    with StreamSession(th, avatar, seed=seed, window=window, output_size="crop", **controls) as session:
        for i in range(0, len(audio), 1000):
            session.push(audio[i:i + 1000])
        session.finish()
        frames = list(session)
    return np.stack([f.motion for f in frames]), np.stack([f.image for f in frames]), \
        np.concatenate([f.audio for f in frames])


def _offline_job(th, avatar, audio, seed, controls):
    result = th.generate(avatar, audio, SAMPLE_RATE, seed=seed, **controls)
    return result.motion.values, result.to_array(), result.audio


def test_concurrent_sessions_and_offline_jobs_match_their_solo_runs(th, avatars, speech):
    audio = speech[:int(JOB_AUDIO_S * SAMPLE_RATE)]
    jobs = [
        (_stream_job, (avatars["square"], audio, 1, 2, {})),
        (_stream_job, (avatars["wide"], audio, 2, 8, {"pose_scale": 0.5, "blink_rate": 50})),
        (_stream_job, (avatars["tall"], audio[::-1].copy(), 3, 2, {"expression": "happy", "expression_intensity": 1.0})),
        (_stream_job, (avatars["square"], audio, 4, 5, {"still": True})),
        (_offline_job, (avatars["narrow"], audio, 5, {"mouth_scale": 1.5})),
        (_offline_job, (avatars["square"], audio, 1, {})),
    ]
    solo = [fn(th, *args) for fn, args in jobs]
    with ThreadPoolExecutor(len(jobs)) as pool:
        together = list(pool.map(lambda job: job[0](th, *job[1]), jobs))
    for i, (alone, shared) in enumerate(zip(solo, together)):
        for what, a, b in zip(("motion", "frames", "audio"), alone, shared):
            assert a.shape == b.shape and np.array_equal(a, b), f"job {i}: {what} changed when run concurrently"
    assert not np.array_equal(solo[0][0], solo[3][0]), "different seeds/controls must differ"


# -- four peers at once over loopback -------------------------------------------------------------------
def test_four_peers_and_an_offline_job_at_once(th, avatars, portraits, speech):
    offline_args = (avatars["narrow"], speech[:int(JOB_AUDIO_S * SAMPLE_RATE)], 9, {"pose_scale": 1.5})
    offline_solo = _offline_job(th, *offline_args)

    async def scenario():
        server, runner, port = await start_server(th, port=0, config=ServerConfig(max_peers=PEERS))
        url = f"http://127.0.0.1:{port}"
        report = {}
        try:
            async with aiohttp.ClientSession() as http:
                ids = {}
                for name in ("wide", "tall", "narrow"):  # the avatars are cached: the uploads register instantly
                    async with http.post(url + "/portrait", data=_png(portraits[name])) as response:
                        assert response.status == 200, await response.text()
                        ids[name] = (await response.json())["portrait"]
                ids["square"] = "default"
                await server.avatar("default")
                clients = {}
                for seed, name in enumerate(("square", "wide", "tall", "narrow")):
                    clients[name] = Client(SpeechTrack([speech[:3 * SAMPLE_RATE]]))
                    assert await clients[name].connect(http, url, portrait=ids[name], seed=seed) == 200
                assert await Client(SpeechTrack([])).connect(http, url) == 503  # a fifth is refused
                async with http.get(url + "/health") as response:
                    assert (await response.json())["peers"] == PEERS
                started = time.monotonic()
                offline = await asyncio.get_running_loop().run_in_executor(None, _offline_job, th, *offline_args)
                await _until(lambda: all(len(c.video) >= 25 for c in clients.values()), 180)
                elapsed = time.monotonic() - started
                peers = list(server.peers)
                sessions = [peer.session for peer in peers]
                threads = [t for s in sessions for t in s._threads]
                report = {"elapsed_s": round(elapsed, 1),
                          "client_fps": {n: round(len(c.video) / elapsed, 1) for n, c in clients.items()},
                          "sessions": [s.stats() for s in sessions],
                          "paced": sum(p.realtime.frames_delivered for p in peers),
                          "received": sum(len(c.video) for c in clients.values())}
                for peer in peers:  # the pacer hands out every frame, in order, none skipped
                    sent = [index for index, kind, _ in peer.send_log if kind == "audio"]
                    assert sent == list(range(len(sent)))
                for name, client in clients.items():  # each peer sees its own portrait, nobody else's
                    height, width = portraits[name].shape[:2]
                    assert {size for _, _, size in client.video} == {(height, width)}, name
                    assert len(client.audio) > 0
                for client in clients.values():
                    await client.close()
                await _until(lambda: not server.peers, 20)
                assert not any(t.is_alive() for t in threads) and all(s.closed for s in sessions)
                async with http.get(url + "/health") as response:
                    assert (await response.json())["peers"] == 0
        finally:
            await runner.cleanup()
        return report, offline

    report, offline = asyncio.run(scenario())
    for what, a, b in zip(("motion", "frames", "audio"), offline_solo, offline):
        assert np.array_equal(a, b), f"the offline job's {what} changed while 4 streams ran"
    latency = [s["latency_ms"]["p95"] for s in report["sessions"]]
    print(f"\n{PEERS} peers + 1 offline job: client fps {report['client_fps']} over {report['elapsed_s']} s; "
          f"session latency p95 {latency} ms; frames {[s['frames'] for s in report['sessions']]}; video frames "
          f"paced {report['paced']}, received {report['received']}; load average {os.getloadavg()[0]:.1f}")


# -- sessions are freed ----------------------------------------------------------------------------------
CLIENT = r"""
import asyncio, sys, aiohttp, aioice.ice
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"]

async def main(url, wav):
    pc = RTCPeerConnection()
    pc.addTrack(MediaPlayer(wav, loop=True).audio)
    pc.addTransceiver("video", direction="recvonly")
    frames = asyncio.Queue()
    @pc.on("track")
    def on_track(track):
        async def pull():
            while True:
                await frames.put(await track.recv())
        if track.kind == "video":
            asyncio.ensure_future(pull())
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "/offer", json={"sdp": pc.localDescription.sdp, "type": "offer"}) as r:
            await pc.setRemoteDescription(RTCSessionDescription(**await r.json()))
    for _ in range(5):
        await frames.get()
    print("streaming", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_a_client_that_vanishes_frees_its_session(th, speech, tmp_path, monkeypatch):
    """The client process is killed mid-stream (no goodbye): ICE consent checks expire and the session
    and its threads are freed (consent interval shortened from 5 s to 0.3 s to keep the test short)."""
    import aioice.ice
    import soundfile as sf

    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.3)
    wav = tmp_path / "speech.wav"
    sf.write(wav, speech[:2 * SAMPLE_RATE], SAMPLE_RATE)

    async def scenario():
        server, runner, port = await start_server(th, port=0, config=ServerConfig(max_peers=1))
        await server.avatar("default")
        client = await asyncio.create_subprocess_exec(sys.executable, "-c", CLIENT, f"http://127.0.0.1:{port}",
                                                      str(wav), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = await asyncio.wait_for(client.stdout.readline(), 120)
            assert line.strip() == b"streaming", (line, (await client.stderr.read())[-2000:])
            assert len(server.peers) == 1
            session = next(iter(server.peers)).session
            client.send_signal(signal.SIGKILL)
            await client.wait()
            killed = time.monotonic()
            await _until(lambda: not server.peers, 60)
            freed_after = time.monotonic() - killed
            assert session.closed and not any(t.is_alive() for t in session._threads)
            return freed_after
        finally:
            if client.returncode is None:
                client.kill()
                await client.wait()
            await runner.cleanup()

    freed_after = asyncio.run(scenario())
    print(f"\nsession freed {freed_after:.1f} s after the client was killed")


def test_a_stream_reaching_the_audio_limit_ends_and_frees_its_slot(th, speech):
    async def scenario():
        config = ServerConfig(max_peers=1, limits=Limits(max_audio_seconds=1.5))
        server, runner, port = await start_server(th, port=0, config=config)
        url = f"http://127.0.0.1:{port}"
        await server.avatar("default")
        try:
            async with aiohttp.ClientSession() as http:
                client = Client(SpeechTrack([speech[:4 * SAMPLE_RATE]]))
                assert await client.connect(http, url) == 200
                session = next(iter(server.peers)).session
                await _until(lambda: not server.peers, 60)  # nobody closed: the server ended it
                # finish() adds only the resampler's held-back tail (WebRTC audio arrives at 48 kHz)
                assert session.closed and session.audio_horizon_s <= 1.5 + 0.05
                frames = len(client.video)
                again = Client(SpeechTrack([speech[:SAMPLE_RATE]]))
                assert await again.connect(http, url) == 200  # the slot is free again
                await again.close()
                await client.close()
                return frames
        finally:
            await runner.cleanup()

    frames = asyncio.run(scenario())
    assert 0 < frames <= 1.5 * 25 + 2


# -- hostile requests ------------------------------------------------------------------------------------
async def _raw(port: int, request: bytes) -> tuple[int, bytes]:
    """Send raw bytes (no client-side URL normalisation); read the reply until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = b""
    try:
        writer.write(request)
        await writer.drain()
        while chunk := await asyncio.wait_for(reader.read(65536), 10):
            data += chunk
    except (ConnectionResetError, BrokenPipeError):  # the server hung up on a bad request: fine
        pass
    finally:
        writer.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data.partition(b"\r\n\r\n")[2]


HUNG_UP = -1  # the server answered and closed before the client finished sending an oversized body
TRAVERSALS = ["/static/../server.py", "/static/%2e%2e/server.py", "/static/..%2fserver.py",
              "/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc/passwd", "/static//etc/passwd", "/static/../../../../etc/passwd",
              "/static/index.html/../../server.py", "/static/%2fetc%2fpasswd", "/../../etc/passwd",
              "/static/..\\..\\server.py"]


def test_hostile_requests_get_4xx_and_touch_no_file(th, astronaut, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything written relative to the working folder would land here
    limits = Limits(max_upload_bytes=600_000, max_image_pixels=2_000_000)

    async def scenario():
        server, runner, port = await start_server(th, port=0, config=ServerConfig(limits=limits))
        url = f"http://127.0.0.1:{port}"
        codes = {}
        try:
            async with aiohttp.ClientSession() as http:
                async def post(name, path, **kwargs):
                    try:
                        async with http.post(url + path, **kwargs) as response:
                            codes[name] = (response.status, await response.text())
                    except aiohttp.ClientError as e:  # refused before the body was sent
                        codes[name] = (HUNG_UP, str(e))

                offer = {"sdp": "v=0\r\n", "type": "offer"}
                await post("nested json", "/offer", data=b"[" * 100_000 + b"]" * 100_000)
                await post("5000-digit seed", "/offer", data=b'{"sdp": "v=0", "type": "offer", "seed": 1'
                           + b"0" * 5000 + b"}")
                await post("NaN seed", "/offer", data=b'{"sdp": "v=0", "type": "offer", "seed": NaN}')
                await post("binary", "/offer", data=bytes(range(256)) * 4)
                await post("string control", "/offer", json={**offer, "controls": {"pose_scale": "big"}})
                await post("3 gaze values", "/offer", json={**offer, "controls": {"gaze": [1, 2, 3]}})
                await post("session option as control", "/offer", json={**offer, "controls": {"window": 1}})
                await post("path as portrait", "/offer", json={**offer, "portrait": "../../etc/passwd"})
                await post("object as portrait", "/offer", json={**offer, "portrait": {"path": "/etc/passwd"}})

                async def endless(size):
                    for _ in range(size // 65536):
                        yield b"x" * 65536

                await post("chunked 2 MB offer", "/offer", data=endless(2 << 20))
                await post("chunked 2 MB upload", "/portrait", data=endless(2 << 20))
                await post("1 MB upload", "/portrait", data=b"\xff\xd8" + b"\0" * 1_000_000)
                from PIL import Image

                buf = io.BytesIO()
                Image.new("L", (3000, 3000)).save(buf, format="PNG")
                await post("9 MP image", "/portrait", data=buf.getvalue())
                await post("eps", "/portrait", data=b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
                await post("svg", "/portrait", data=b'<svg xmlns="http://www.w3.org/2000/svg"/>')
                form = aiohttp.FormData()
                form.add_field("file", _png(astronaut), filename="../../evil.png", content_type="image/png")
                await post("multipart with a path", "/portrait", data=form)
                await post("no face", "/portrait", data=_png(np.full((256, 256, 3), 127, np.uint8)))
                async with http.get(url + "/offer") as response:
                    codes["GET /offer"] = (response.status, "")
                for path in TRAVERSALS:
                    codes[f"traversal {path}"] = await _raw(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                                                                  f"Connection: close\r\n\r\n".encode())
                codes["garbage"] = await _raw(port, b"\x16\x03\x01 hello\r\n\r\n")
                codes["huge header"] = await _raw(port, b"GET / HTTP/1.1\r\nX: " + b"a" * 100_000 + b"\r\n\r\n")
                async with http.get(url + "/health") as response:  # still serving
                    codes["health"] = (response.status, await response.text())
                await post("good upload", "/portrait", data=_png(astronaut))
        finally:
            await runner.cleanup()
        return codes

    codes = asyncio.run(scenario())
    print("\n" + "; ".join(f"{name}: {status}" for name, (status, _) in codes.items()))
    for name, (status, body) in codes.items():
        if name in ("health", "good upload"):
            assert status == 200, (name, body)
            continue
        assert 400 <= status < 500 or (status == HUNG_UP and "chunked" in name), (name, status, body[:200])
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        assert "root:" not in text and "import asyncio" not in text, name  # no file content leaked
        assert "Traceback" not in text, name
    assert codes["chunked 2 MB upload"][0] in (411, 413, HUNG_UP) and codes["1 MB upload"][0] == 413
    assert codes["9 MP image"][0] == 413 and codes["path as portrait"][0] == 404
    assert codes["eps"][0] == 422 and codes["no face"][0] == 422
    assert list(tmp_path.iterdir()) == [], "a request wrote into the working folder"
    assert not os.path.exists("/evil.png") and not (tmp_path.parent / "evil.png").exists()


def test_loopback_is_the_default_bind(th, monkeypatch, tmp_path):
    async def scenario():
        server, runner, port = await start_server(th, port=0)  # no host given
        try:
            return runner.addresses[0][0]
        finally:
            await runner.cleanup()

    assert DEFAULT_HOST == "127.0.0.1" and asyncio.run(scenario()) == "127.0.0.1"
    # the CLI: `talkinghead serve` without --host binds loopback too
    from talkinghead.cli.main import main
    from talkinghead.stream import server as server_module

    seen = {}
    monkeypatch.setattr(server_module.web, "run_app", lambda app, **kwargs: seen.update(kwargs))
    assert main(["serve", "--model", th.config.motion_model, "--port", "0"]) == 2  # port must be 1..65535
    assert main(["serve", "--model", th.config.motion_model]) == 0
    assert seen["host"] == "127.0.0.1"
