"""The Gradio app (app.py).

In-process: settings from flags and environment, and the upload guard (paths outside Gradio's
upload folder never reach the filesystem). Against a running ``python app.py`` (a subprocess with a
tiny motion model, loopback only): the ``/generate`` endpoint through ``gradio_client`` (video
duration == speech duration, the motion downloads, readable errors for no face / bad audio / too
long / too large / bad control), the live page's server, and headless Chromium driving the page
(upload, Generate, the <video>'s duration; the no-face error toast; the Live tab's iframe).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

gr = pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "app.py"
CLIP_S = 1.0  # the speech sent to the app (kept short: each generation must be quick on 2 CPU cores)
LONG_CLIP_S = 3.0  # over the test server's audio limit
MAX_AUDIO_S = 2.0
MAX_IMAGE_PIXELS = 300_000  # the 512x512 astronaut (262 144 px) passes, a 600x600 image does not
MAX_UPLOAD_BYTES = 1_000_000  # the astronaut PNG (~0.4 MB) passes, 3 MB of noise does not
SECOND_CLIP_S = 1.6  # a second, concurrent job of another length
SPEECH_OFFSET_S = 0.25  # the demo clip starts with this much silence
DURATION_TOL_S = 0.1
STARTUP_TIMEOUT_S = 240.0
GENERATE_TIMEOUT_MS = 120_000
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# -- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app_module():
    import app

    return app


@pytest.fixture(scope="module")
def media(tmp_path_factory, astronaut):
    """Small real inputs: the astronaut, a flat gray image, a too-large image, speech clips, a fake wav."""
    import soundfile as sf
    from PIL import Image

    from talkinghead.audio.io import load_audio
    from talkinghead.demo import demo_speech

    root = tmp_path_factory.mktemp("media")
    speech = load_audio(demo_speech())  # (n,) 16 kHz
    start = int(SPEECH_OFFSET_S * 16000)
    paths = SimpleNamespace(portrait=root / "astronaut.png", gray=root / "gray.png", big=root / "big.png",
                            speech=root / "speech.wav", long=root / "long.wav", fake=root / "notes.wav",
                            second=root / "second.wav", noise=root / "noise.png")
    Image.fromarray(astronaut).save(paths.portrait)
    Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(paths.gray)
    Image.fromarray(np.full((600, 600, 3), 128, np.uint8)).save(paths.big)
    sf.write(paths.speech, speech[start:start + int(CLIP_S * 16000)], 16000)
    sf.write(paths.long, speech[start:start + int(LONG_CLIP_S * 16000)], 16000)
    sf.write(paths.second, speech[start:start + int(SECOND_CLIP_S * 16000)], 16000)
    noise = np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    Image.fromarray(noise).save(paths.noise)  # ~3 MB: incompressible
    paths.fake.write_text("these are meeting notes, not audio\n")
    return paths


@pytest.fixture(scope="module")
def tiny_model(tiny_motion_model):
    """The tiny random motion model (conftest): fast, and no weights downloaded."""
    return tiny_motion_model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model):
    """``python app.py`` on free loopback ports, with test limits; stopped after the module."""
    root = tmp_path_factory.mktemp("app")
    port, live_port = _free_port(), _free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", GRADIO_TEMP_DIR=str(root / "gradio"),
               HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(APP), "--port", str(port), "--live-port", str(live_port), "--model", str(tiny_model),
           "--max-audio-seconds", str(MAX_AUDIO_S), "--max-image-pixels", str(MAX_IMAGE_PIXELS),
           "--max-upload-bytes", str(MAX_UPLOAD_BYTES)]
    log_path = root / "app.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(proc, url, log_path)
        yield SimpleNamespace(url=url, live_port=live_port, gradio_dir=root / "gradio", root=root)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait_until_up(proc: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app.py exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if _get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"app.py did not answer within {STARTUP_TIMEOUT_S:.0f} s:\n{log_path.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return Client(server.url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def _video_seconds(path) -> tuple[float, int, set]:
    """(container duration, video frames, stream kinds) of an mp4, read with PyAV."""
    import av

    with av.open(str(path)) as container:
        kinds = {s.type for s in container.streams}
        frames = sum(1 for _ in container.decode(video=0))
        return container.duration / 1e6, frames, kinds


# -- in-process: settings and guards -----------------------------------------------------------
def test_settings_from_flags_and_environment(app_module, monkeypatch):
    monkeypatch.setenv("TALKINGHEAD_APP_PORT", "9001")
    monkeypatch.setenv("TALKINGHEAD_MAX_IMAGE_PIXELS", "1234567")
    monkeypatch.delenv("TALKINGHEAD_MAX_AUDIO_SECONDS", raising=False)
    s = app_module.parse_settings(["--concurrency", "3", "--max-audio-seconds", "30", "--no-live"])
    assert (s.host, s.port, s.concurrency, s.live) == ("127.0.0.1", 9001, 3, False)
    assert (s.limits.max_audio_seconds, s.limits.max_image_pixels) == (30.0, 1234567)
    assert app_module.parse_settings([]).limits.max_audio_seconds == app_module.APP_MAX_AUDIO_SECONDS
    monkeypatch.setenv("TALKINGHEAD_MAX_AUDIO_SECONDS", "45")
    assert app_module.parse_settings([]).limits.max_audio_seconds == 45.0
    from talkinghead.errors import InvalidControlError

    with pytest.raises(InvalidControlError, match="concurrency"):
        app_module.parse_settings(["--concurrency", "0"])
    monkeypatch.setenv("TALKINGHEAD_APP_PORT", "eighty")
    with pytest.raises(InvalidControlError, match="TALKINGHEAD_APP_PORT"):
        app_module.build_parser()


def test_help_lists_every_setting(app_module, capsys):
    """``python app.py --help`` (the server fixture runs ``python app.py`` itself, through the same main())."""
    with pytest.raises(SystemExit) as info:
        app_module.main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--host", "--port", "--max-audio-seconds", "--max-image-pixels", "--max-upload-bytes",
                 "--concurrency", "--max-queue", "--live-port", "--no-live"):
        assert flag in text
    assert "127.0.0.1" in text and "TALKINGHEAD_MAX_AUDIO_SECONDS" in text


@pytest.mark.parametrize("path", ["/etc/hostname", "../../../../etc/passwd", "/"])
def test_paths_outside_the_upload_folder_are_refused(app_module, path, tmp_path):
    """A client-sent FileData path is used only if it lies in Gradio's upload folder (and is a file)."""
    with pytest.raises(gr.Error, match="uploaded to this app"):
        app_module.generate({"path": path, "orig_name": "x.png"}, {"path": path}, "neutral", 0.0, 1.0, False,
                            1.0, 0, 0, 0, False, 0, 0, 15, 0.25, 0, 8, 2.0, 25, "full", progress=lambda *a, **k: None)


def test_browser_host_is_sanitised(app_module):
    request = SimpleNamespace(headers={"host": "example.org:7860"})
    assert app_module._browser_host(request) == "example.org"
    request.headers["host"] = "[::1]:7860"
    assert app_module._browser_host(request) == "[::1]"
    request.headers["host"] = '"><script>alert(1)</script>'
    assert app_module._browser_host(request) == "127.0.0.1"


def test_live_server_thread_starts_serves_and_stops():
    """talkinghead.app_support.LiveServer: the WebRTC server on a background loop (pipeline used lazily)."""
    pytest.importorskip("aiohttp")
    pytest.importorskip("aiortc")
    from talkinghead.app_support import LiveServer
    from talkinghead.errors import TalkingHeadError

    live = LiveServer(pipeline=None, port=0)
    port = live.start()
    try:
        assert live.running and port > 0
        assert json.loads(_get(f"http://127.0.0.1:{port}/health")[1]) == {"peers": 0, "max_peers": 2}
        with pytest.raises(TalkingHeadError, match="choose another port"):
            LiveServer(pipeline=None, port=port).start()  # the port is taken
    finally:
        live.stop()
    assert not live.running
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/health", timeout=2)


# -- the running app through gradio_client -----------------------------------------------------
@pytest.mark.slow
def test_generate_endpoint(client, media, server):
    video, files = client.predict(portrait=handle_file(str(media.portrait)), audio=handle_file(str(media.speech)),
                                  pose_scale=0.5, expression="happy", api_name="/generate")
    video_path = video["video"] if isinstance(video, dict) else video
    duration, frames, kinds = _video_seconds(video_path)
    assert abs(duration - CLIP_S) <= DURATION_TOL_S
    assert frames == round(CLIP_S * 25) and kinds == {"video", "audio"}
    by_name = {Path(f).name: Path(f) for f in files}
    assert set(by_name) == {"talkinghead.mp4", "motion.csv", "motion.json"}
    header = by_name["motion.csv"].read_text().splitlines()[0]
    assert "jawOpen" in header and "eyeBlinkLeft" in header
    motion = json.loads(by_name["motion.json"].read_text())
    assert motion  # ARKit-named motion, parsed
    outputs = list(server.gradio_dir.glob("talkinghead-*/talkinghead.mp4"))
    assert outputs and all(p.resolve().is_relative_to(server.gradio_dir.resolve()) for p in outputs)


CASES = {  # name: (portrait, audio, extra controls, expected message)
    "no face": ("gray", "speech", {}, r"no face found"),
    "not audio": ("portrait", "fake", {}, r"notes\.wav: not a readable audio"),
    "too long": ("portrait", "long", {}, r"audio is 3\.0 s long; the limit"),
    "too large": ("big", "speech", {}, r"600x600 pixels, more than the limit"),
    "bad control": ("portrait", "speech", {"pose_scale": 5}, r"pose_scale must be in \[0\.0, 2\.0\]"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_user_errors_are_readable(client, media, server, case):
    portrait, audio, controls, expected = CASES[case]
    with pytest.raises(AppError) as info:
        client.predict(portrait=handle_file(str(getattr(media, portrait))),
                       audio=handle_file(str(getattr(media, audio))), **controls, api_name="/generate")
    message = str(info.value)
    assert re.search(expected, message), message
    assert "Traceback" not in message and str(server.gradio_dir) not in message  # no server paths leak


@pytest.mark.slow
def test_queued_jobs_keep_their_own_outputs(client, media):
    """Two requests in flight at once (the queue runs one at a time): each gets its own video, of its
    own speech's length, in its own directory."""
    jobs = {seconds: client.submit(portrait=handle_file(str(media.portrait)), audio=handle_file(str(path)),
                                   seed=seed, api_name="/generate")
            for seconds, path, seed in ((CLIP_S, media.speech, 1), (SECOND_CLIP_S, media.second, 2))}
    outputs = {seconds: job.result(timeout=GENERATE_TIMEOUT_MS / 1000) for seconds, job in jobs.items()}
    for seconds, (video, files) in outputs.items():
        duration, frames, _ = _video_seconds(video["video"] if isinstance(video, dict) else video)
        assert abs(duration - seconds) <= DURATION_TOL_S and frames == round(seconds * 25)
    first, second = ({Path(f).parent for f in files} for _, files in outputs.values())
    assert first.isdisjoint(second)


@pytest.mark.slow
def test_oversized_upload_is_refused_by_the_server(server, media):
    """The upload limit is Gradio's max_file_size: the server answers 413 (not only the client's check)."""
    import httpx

    with open(media.noise, "rb") as f:
        response = httpx.post(server.url + "gradio_api/upload", files={"files": ("noise.png", f)}, timeout=30)
    assert response.status_code == 413 and str(MAX_UPLOAD_BYTES) in response.text


@pytest.mark.slow
def test_server_paths_sent_through_the_api_are_refused(server):
    """A raw API call naming a server file (not an upload) fails without the file being read."""
    import httpx

    config = httpx.get(server.url + "config", timeout=10).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "generate")
    secret = server.root / "secret.png"
    secret.write_bytes(b"not for clients")
    data = [{"path": str(secret), "meta": {"_type": "gradio.FileData"}},
            {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}},
            "neutral", 0.0, 1.0, False, 1.0, 0, 0, 0, False, 0, 0, 15, 0.25, 0, 8, 2.0, 25, "full"]
    session = "traversal-test"
    joined = httpx.post(server.url + "gradio_api/queue/join", timeout=10,
                           json={"data": data, "fn_index": fn_index, "session_hash": session})
    assert joined.status_code == 200
    with httpx.stream("GET", server.url + f"gradio_api/queue/data?session_hash={session}", timeout=60) as r:
        events = (json.loads(line[len("data: "):]) for line in r.iter_lines()
                  if line.startswith("data: "))
        done = next(e for e in events if e.get("msg") == "process_completed")
    assert done["success"] is False
    assert "not for clients" not in json.dumps(done)


@pytest.mark.slow
def test_live_server_runs_beside_the_app(server):
    status, body = _get(f"http://127.0.0.1:{server.live_port}/health")
    assert status == 200 and json.loads(body)["peers"] == 0
    status, page = _get(f"http://127.0.0.1:{server.live_port}/")
    assert status == 200 and "talkinghead live" in page


# -- the running app in headless Chromium ------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url, wait_until="domcontentloaded")
    page.wait_for_selector("#generate", timeout=60_000)
    yield page
    context.close()


def _submit(page, portrait: Path, speech: Path) -> None:
    page.locator("#portrait input[type=file]").set_input_files(str(portrait))
    page.locator("#speech input[type=file]").set_input_files(str(speech))
    page.locator("#portrait img").first.wait_for(timeout=30_000)  # both uploads landed
    page.locator("#speech audio, #speech canvas, #speech [data-testid='waveform-container']").first.wait_for(
        state="attached", timeout=30_000)
    page.click("#generate")


VIDEO_DURATION_JS = """async () => {
  const v = document.querySelector('#output-video video');
  if (v.readyState < 1) await new Promise((ok) => v.addEventListener('loadedmetadata', ok, {once: true}));
  return v.duration;
}"""


@pytest.mark.slow
def test_browser_generates_a_video_of_the_speech_length(page, media):
    _submit(page, media.portrait, media.speech)
    page.wait_for_selector("#output-video video", timeout=GENERATE_TIMEOUT_MS)
    duration = page.evaluate(VIDEO_DURATION_JS)
    assert abs(duration - CLIP_S) <= DURATION_TOL_S
    downloads = re.sub(r"\s+", "", page.locator("#downloads").inner_text())  # names are split across spans
    assert "motion.csv" in downloads and "motion.json" in downloads


@pytest.mark.slow
def test_browser_shows_a_readable_error_for_no_face(page, media):
    _submit(page, media.gray, media.speech)
    toast = page.get_by_text(re.compile("no face found", re.IGNORECASE)).first
    toast.wait_for(timeout=GENERATE_TIMEOUT_MS)
    assert "use a photo" in toast.inner_text()
    assert page.locator("#output-video video").count() == 0
    assert "Traceback" not in page.content()


@pytest.mark.slow
def test_browser_live_tab_shows_the_live_page(page, server):
    page.get_by_role("tab", name="Live").click()
    frame = page.frame_locator("#live-frame")
    assert frame.locator("h1").inner_text(timeout=30_000) == "talkinghead live"
    assert f":{server.live_port}/" in page.locator("#live-frame").get_attribute("src")
