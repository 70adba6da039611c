"""talkinghead web app (Gradio): one portrait + speech -> a lip-synced talking-head video, offline or live.

    pip install 'talkinghead[app,stream]'
    python app.py                      # http://127.0.0.1:7860 (this machine only)
    python app.py --help               # host, port, limits, queue, live server

Tabs
----
Generate   a portrait (upload, webcam, or the embedded astronaut example) + speech (upload, microphone,
           or the shipped demo clip), the generate API's controls, a progress bar, the video with its
           audio and downloads of the mp4 and the motion (ARKit-named CSV and JSON). Errors a user can
           cause (no face, unreadable image or audio, input over a limit) appear as readable messages.
           The same function is the API endpoint ``/generate`` (``gradio_client``).
Live       the ``talkinghead serve`` WebRTC page (microphone in, avatar out), served by the same process
           on ``--live-port`` with the same loaded models, shown in an iframe.

Settings (flag, environment variable, default)
----------------------------------------------
``--host``               ``TALKINGHEAD_APP_HOST``         127.0.0.1 (loopback; 0.0.0.0 exposes the app)
``--port``               ``TALKINGHEAD_APP_PORT``         7860
``--concurrency``        ``TALKINGHEAD_APP_CONCURRENCY``  1 generation at a time (CPU bound)
``--max-queue``          ``TALKINGHEAD_APP_MAX_QUEUE``    16 waiting requests (more are refused)
``--max-audio-seconds``  ``TALKINGHEAD_MAX_AUDIO_SECONDS`` 120 in the app
``--max-image-pixels``   ``TALKINGHEAD_MAX_IMAGE_PIXELS`` 50 000 000
``--max-upload-bytes``   ``TALKINGHEAD_MAX_UPLOAD_BYTES`` 100 MiB (Gradio refuses larger uploads)
``--live-port``          ``TALKINGHEAD_APP_LIVE_PORT``    7861 (0: any free port); ``--no-live`` turns it off
``--live-peers``         ``TALKINGHEAD_APP_LIVE_PEERS``   2 concurrent live sessions
``--model``/``--device`` ``TALKINGHEAD_APP_MODEL``/``_DEVICE``  shipped motion model, CPU
``--renderer``           ``TALKINGHEAD_APP_RENDERER``     warp (or liveportrait + ``--renderer-weights``)

Safety: uploads are read only from Gradio's upload folder (paths sent by a client are checked
there, again here, and never used to name outputs); each request writes its outputs to a fresh
directory inside Gradio's cache under fixed names; nothing is shared publicly (no share links,
analytics off, no web fonts fetched).
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # the app never phones home
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

from talkinghead.demo import demo_portrait, demo_speech  # noqa: E402
from talkinghead.diffusion.sampler import SamplerConfig  # noqa: E402
from talkinghead.errors import (  # noqa: E402
    InputLimitError,
    InvalidAudioError,
    InvalidControlError,
    InvalidImageError,
    NoFaceError,
    TalkingHeadError,
)
from talkinghead.limits import ENV_PREFIX, Limits  # noqa: E402
from talkinghead.motion.controls import EXPRESSION_PRESETS, Controls  # noqa: E402
from talkinghead.render.registry import RENDERERS  # noqa: E402
from talkinghead.timing import FPS, SAMPLE_RATE, SUPPORTED_FPS  # noqa: E402

APP_ENV = ENV_PREFIX + "APP_"
APP_MAX_AUDIO_SECONDS = 120.0  # app default: a 2-minute clip renders in minutes on a CPU (library: 1 h)
OUTPUT_MAX_AGE_S = 2 * 3600  # generated files are deleted from Gradio's cache after this long
OUTPUT_SWEEP_S = 1800  # ... checked this often
LIVE_FRAME_HEIGHT_PX = 760
HOSTNAME = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]+\])$")  # name, IPv4 or [IPv6]
CONTROL_DEFAULTS = Controls()
SAMPLER_DEFAULTS = SamplerConfig()
ERROR_TITLES = (  # most specific first
    (NoFaceError, "No usable face"),
    (InvalidImageError, "Unreadable portrait"),
    (InvalidAudioError, "Unusable audio"),
    (InputLimitError, "Input over a limit"),
    (InvalidControlError, "Invalid setting"),
    (TalkingHeadError, "Cannot generate"),
)


@dataclass
class AppSettings:
    """What ``python app.py`` is configured with (see the module docstring)."""

    host: str = "127.0.0.1"
    port: int = 7860
    concurrency: int = 1
    max_queue: int = 16
    limits: Limits = field(default_factory=lambda: Limits(max_audio_seconds=APP_MAX_AUDIO_SECONDS))
    live: bool = True
    live_port: int = 7861
    live_peers: int = 2
    model: str | None = None
    renderer: str = "warp"
    renderer_weights: str | None = None
    device: str | None = None


_PIPELINE = None
_PIPELINE_LOCK = threading.Lock()
LIVE = None  # the talkinghead.app_support.LiveServer once main() started it


# -- settings ----------------------------------------------------------------------------------
def _env(name: str, default, kind=str):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise InvalidControlError(f"{name}={raw!r} is not a valid {kind.__name__}") from None


def build_parser() -> argparse.ArgumentParser:
    """``python app.py --help``: every setting, defaulting to its environment variable."""
    lib = Limits.from_env()
    audio_env = os.environ.get(ENV_PREFIX + "MAX_AUDIO_SECONDS")
    max_audio = lib.max_audio_seconds if audio_env else APP_MAX_AUDIO_SECONDS
    p = argparse.ArgumentParser(prog="python app.py", description="talkinghead web app: portrait + speech -> "
                                "talking-head video (Generate tab) and a live WebRTC avatar (Live tab).")
    add = p.add_argument
    add("--host", default=_env(APP_ENV + "HOST", "127.0.0.1"),
        help=f"address to bind; 0.0.0.0 exposes the app to the network (env {APP_ENV}HOST, default %(default)s)")
    add("--port", type=int, default=_env(APP_ENV + "PORT", 7860, int), help=f"env {APP_ENV}PORT (default %(default)s)")
    add("--concurrency", type=int, default=_env(APP_ENV + "CONCURRENCY", 1, int),
        help=f"generations run at once; others wait in the queue (env {APP_ENV}CONCURRENCY, default %(default)s)")
    add("--max-queue", type=int, default=_env(APP_ENV + "MAX_QUEUE", 16, int),
        help=f"waiting requests before new ones are refused (env {APP_ENV}MAX_QUEUE, default %(default)s)")
    add("--max-audio-seconds", type=float, default=max_audio,
        help=f"longest speech accepted (env {ENV_PREFIX}MAX_AUDIO_SECONDS, app default {APP_MAX_AUDIO_SECONDS:g})")
    add("--max-image-pixels", type=int, default=lib.max_image_pixels,
        help=f"largest portrait, width x height (env {ENV_PREFIX}MAX_IMAGE_PIXELS, default %(default)s)")
    add("--max-upload-bytes", type=int, default=lib.max_upload_bytes,
        help=f"largest upload (env {ENV_PREFIX}MAX_UPLOAD_BYTES, default %(default)s)")
    add("--live-port", type=int, default=_env(APP_ENV + "LIVE_PORT", 7861, int),
        help=f"port of the live WebRTC page, 0 = any free port (env {APP_ENV}LIVE_PORT, default %(default)s)")
    add("--live-peers", type=int, default=_env(APP_ENV + "LIVE_PEERS", 2, int),
        help=f"concurrent live sessions (env {APP_ENV}LIVE_PEERS, default %(default)s)")
    add("--no-live", action="store_true", help="no Live tab server (offline generation only)")
    add("--model", default=_env(APP_ENV + "MODEL", None),
        help=f"motion model: registry name, .safetensors path or hub id (env {APP_ENV}MODEL; default: shipped)")
    add("--renderer", choices=RENDERERS, default=_env(APP_ENV + "RENDERER", "warp"),
        help=f"warp (default, CPU) or liveportrait (GPU; weights you download, docs/liveportrait.md) "
             f"(env {APP_ENV}RENDERER)")
    add("--renderer-weights", default=_env(APP_ENV + "RENDERER_WEIGHTS", None),
        help=f"LivePortrait weights folder or hub id (env {APP_ENV}RENDERER_WEIGHTS; default: the talkinghead cache)")
    add("--device", default=_env(APP_ENV + "DEVICE", None), help=f"torch device (env {APP_ENV}DEVICE; default cpu)")
    return p


def parse_settings(argv: list[str] | None = None) -> AppSettings:
    """Flags (falling back to environment variables) -> validated :class:`AppSettings`."""
    args = build_parser().parse_args(argv)
    if not 0 < args.port < 65536 or not 0 <= args.live_port < 65536:
        raise InvalidControlError("--port must be in 1..65535 and --live-port in 0..65535")
    if args.concurrency < 1 or args.max_queue < 1 or args.live_peers < 1:
        raise InvalidControlError("--concurrency, --max-queue and --live-peers must be at least 1")
    if not args.max_audio_seconds > 0 or args.max_image_pixels < 1 or args.max_upload_bytes < 1:
        raise InvalidControlError("--max-audio-seconds, --max-image-pixels and --max-upload-bytes must be positive")
    limits = Limits(max_audio_seconds=args.max_audio_seconds, max_image_pixels=args.max_image_pixels,
                    max_upload_bytes=args.max_upload_bytes)
    return AppSettings(host=args.host, port=args.port, concurrency=args.concurrency, max_queue=args.max_queue,
                       limits=limits, live=not args.no_live, live_port=args.live_port, live_peers=args.live_peers,
                       model=args.model, renderer=args.renderer, renderer_weights=args.renderer_weights,
                       device=args.device)


SETTINGS = parse_settings([])  # from the environment (so `import app; app.demo.launch()` honours it); main() adds flags


# -- models ------------------------------------------------------------------------------------
def pipeline():
    """The one :class:`~talkinghead.TalkingHead` of this process, loaded on first use."""
    global _PIPELINE
    with _PIPELINE_LOCK:
        if _PIPELINE is None:
            from talkinghead.pipeline import PipelineConfig, TalkingHead

            config = PipelineConfig(limits=SETTINGS.limits, renderer=SETTINGS.renderer,
                                    renderer_weights=SETTINGS.renderer_weights)
            if SETTINGS.model:
                config.motion_model = SETTINGS.model
            _PIPELINE = TalkingHead(config, device=SETTINGS.device, progress=True)  # tqdm -> gr.Progress
        return _PIPELINE


# -- the Generate endpoint ---------------------------------------------------------------------
def generate(portrait, audio, expression, expression_intensity, pose_scale, still, mouth_scale,
             yaw, pitch, roll, fixed_gaze, gaze_x, gaze_y, blink_rate, blink_duration,
             seed, steps, guidance, fps, output_size, progress=gr.Progress(track_tqdm=True)):
    """Portrait + speech -> (the mp4, [mp4, motion.csv, motion.json]).

    ``portrait``/``audio`` arrive unprocessed (Gradio ``FileData`` dicts of uploaded files; the
    event runs with ``preprocess=False``) so every decoding error is talkinghead's readable one.
    """
    names: dict[str, str] = {}
    try:
        controls = dict(expression=expression, expression_intensity=expression_intensity, pose_scale=pose_scale,
                        still=still, mouth_scale=mouth_scale, pose_offset=(yaw, pitch, roll),
                        gaze=(gaze_x, gaze_y) if fixed_gaze else None, blink_rate=blink_rate,
                        blink_duration=blink_duration)
        Controls.from_kwargs(**controls)  # fail before any heavy work
        options = dict(seed=_integer("seed", seed), steps=_integer("steps", steps), guidance=guidance,
                       fps=_integer("fps", fps), output_size=output_size)
        image_path = _uploaded(portrait, "portrait", InvalidImageError, names)
        audio_path = _uploaded(audio, "speech", InvalidAudioError, names)
        return _run(image_path, audio_path, controls, options, progress)
    except TalkingHeadError as e:
        title = next(t for kind, t in ERROR_TITLES if isinstance(e, kind))
        raise gr.Error(_public_message(e, names), title=title, print_exception=False) from None


def _run(image_path: Path, audio_path: Path, controls: dict, options: dict, progress):
    from talkinghead.audio.io import load_audio
    from talkinghead.pipeline import save_motion

    progress(0.0, desc="loading models")
    th = pipeline()
    progress(0.05, desc="reading the speech")
    samples = load_audio(audio_path)  # (n,) 16 kHz
    SETTINGS.limits.check_audio_seconds(len(samples) / SAMPLE_RATE)
    progress(0.1, desc="finding the face")
    avatar = th.register(image_path)
    progress(0.25, desc="generating motion")
    result = th.generate(avatar, samples, SAMPLE_RATE, **options, **controls)
    out = _request_dir()
    video, csv, json = out / "talkinghead.mp4", out / "motion.csv", out / "motion.json"
    th.save(result, video, motion_out=csv)  # frames rendered here (its tqdm bar drives the progress bar)
    save_motion(result.motion, json)
    return str(video), [str(video), str(csv), str(json)]


def _uploaded(payload, what: str, error, names: dict) -> Path:
    """A file the client uploaded through Gradio -> its path, only if it lies in Gradio's upload folder."""
    if payload is None:
        hint = "upload a photo" if what == "portrait" else "upload or record speech"
        raise error(f"no {what} given: {hint}, or pick the example below it")
    if isinstance(payload, dict):
        path, shown = payload.get("path"), payload.get("orig_name")
    else:
        path, shown = payload, None
    if not isinstance(path, (str, os.PathLike)):
        raise error(f"the {what} must be an uploaded file")
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(Path(gr.utils.get_upload_folder()).resolve()) or not resolved.is_file():
        raise error(f"the {what} must be a file uploaded to this app")
    SETTINGS.limits.check_upload_bytes(resolved.stat().st_size)
    shown = Path(shown).name if isinstance(shown, str) and shown else f"the {what}"
    names[str(path)], names[str(resolved)] = shown, shown
    return resolved


def _integer(name: str, value) -> int | None:
    """Numbers from the UI / API (JSON may send 3.0 for 3) -> int; other types are left to the library."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, int):
        return value
    raise InvalidControlError(f"{name} must be a whole number, got {value!r}")


def _public_message(error: Exception, names: dict) -> str:
    """The library's message with server-side upload paths replaced by the file names the user chose."""
    message = str(error)
    for path in sorted(names, key=len, reverse=True):
        message = message.replace(path, names[path])
    return message


def _request_dir() -> Path:
    """A fresh directory for one request's outputs, inside Gradio's cache (served, swept by age)."""
    root = Path(gr.utils.get_upload_folder())
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="talkinghead-", dir=root))


# -- page-load helpers -------------------------------------------------------------------------
def page_info(request: gr.Request) -> tuple[str, str]:
    """(limits text, live panel HTML) for the current settings and the host the browser used."""
    lim = SETTINGS.limits
    limits = (f"Limits: speech up to {lim.max_audio_seconds:g} s, portraits up to {lim.max_image_pixels:,} pixels, "
              f"uploads up to {lim.max_upload_bytes / 2**20:.0f} MiB; {SETTINGS.concurrency} generation(s) at a time.")
    return limits, live_panel(_browser_host(request))


def live_panel(host: str) -> str:
    if LIVE is None or not LIVE.running:
        return ("<p>The live server is not running in this process. Start the app with <code>python app.py</code> "
                "(without <code>--no-live</code>), or run <code>talkinghead serve</code>.</p>")
    url = html.escape(f"http://{host}:{LIVE.port}/", quote=True)
    return (f'<p>Pick a portrait, press Start and speak: the avatar answers in real time. '
            f'(<a href="{url}" target="_blank" rel="noopener">open in its own tab</a>)</p>'
            f'<iframe id="live-frame" src="{url}" title="talkinghead live" allow="microphone; autoplay" '
            f'style="width:100%;height:{LIVE_FRAME_HEIGHT_PX}px;border:0"></iframe>')


def _browser_host(request: gr.Request | None) -> str:
    """The hostname the browser reached the app by (so the live iframe points at the same machine)."""
    fallback = "127.0.0.1" if SETTINGS.host in ("0.0.0.0", "::", "") else SETTINGS.host
    header = (request.headers.get("host", "") if request is not None else "") or ""
    host = header.rsplit(":", 1)[0] if not header.endswith("]") else header
    return host if HOSTNAME.match(host) else fallback


# -- the page ----------------------------------------------------------------------------------
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])  # local fonts: no web-font requests

with gr.Blocks(title="talkinghead", analytics_enabled=False, delete_cache=(OUTPUT_SWEEP_S, OUTPUT_MAX_AGE_S)) as demo:
    gr.Markdown("# talkinghead\nOne portrait photo + speech → a lip-synced talking-head video, on a CPU.")
    with gr.Tab("Generate"):
        with gr.Row():
            with gr.Column():
                portrait_in = gr.Image(label="Portrait", type="filepath", image_mode=None, format="png",
                                       sources=["upload", "webcam", "clipboard"], elem_id="portrait")
                gr.Examples([[demo_portrait()]], inputs=[portrait_in], label="Example portrait (public domain)")
                audio_in = gr.Audio(label="Speech", sources=["upload", "microphone"], type="filepath",
                                    elem_id="speech")
                gr.Examples([[str(demo_speech())]], inputs=[audio_in], label="Example speech")
                with gr.Accordion("Expression and motion", open=False):
                    expression_in = gr.Dropdown(list(EXPRESSION_PRESETS), value=CONTROL_DEFAULTS.expression,
                                                label="Expression")
                    intensity_in = gr.Slider(0, 1, value=0.5, step=0.05, label="Expression intensity")
                    pose_scale_in = gr.Slider(0, 2, value=CONTROL_DEFAULTS.pose_scale, step=0.05,
                                              label="Head motion (0 = still, 1 = as generated)")
                    still_in = gr.Checkbox(value=CONTROL_DEFAULTS.still, label="Still head (no head motion)")
                    mouth_in = gr.Slider(0, 2, value=CONTROL_DEFAULTS.mouth_scale, step=0.05, label="Mouth motion")
                    with gr.Row():
                        yaw_in = gr.Slider(-30, 30, value=0, step=1, label="Yaw offset (°)")
                        pitch_in = gr.Slider(-30, 30, value=0, step=1, label="Pitch offset (°)")
                        roll_in = gr.Slider(-30, 30, value=0, step=1, label="Roll offset (°)")
                    fixed_gaze_in = gr.Checkbox(value=False, label="Fixed gaze target (otherwise straight ahead)")
                    with gr.Row():
                        gaze_x_in = gr.Slider(-1, 1, value=0, step=0.05, label="Gaze x (right)")
                        gaze_y_in = gr.Slider(-1, 1, value=0, step=0.05, label="Gaze y (down)")
                    with gr.Row():
                        blink_rate_in = gr.Slider(0, 60, value=CONTROL_DEFAULTS.blink_rate, step=1,
                                                  label="Blinks per minute")
                        blink_duration_in = gr.Slider(0.1, 0.6, value=CONTROL_DEFAULTS.blink_duration, step=0.05,
                                                      label="Blink duration (s)")
                with gr.Accordion("Sampling and output", open=False):
                    seed_in = gr.Number(value=0, precision=0, minimum=0, label="Seed")
                    steps_in = gr.Slider(1, 50, value=SAMPLER_DEFAULTS.steps, step=1, label="Denoising steps")
                    guidance_in = gr.Slider(0, 10, value=SAMPLER_DEFAULTS.guidance, step=0.1,
                                            label="Audio guidance (1 = off)")
                    fps_in = gr.Dropdown(list(SUPPORTED_FPS), value=FPS, label="Frames per second")
                    size_in = gr.Radio(["full", "crop"], value="full",
                                       label="Output: the whole photo, or the 512 px head crop")
                generate_btn = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                video_out = gr.Video(label="Talking head", interactive=False, elem_id="output-video")
                files_out = gr.File(label="Downloads: video, motion (ARKit CSV and JSON)", file_count="multiple",
                                    interactive=False, elem_id="downloads")
                limits_md = gr.Markdown(elem_id="limits")
    with gr.Tab("Live", elem_id="live-tab"):
        live_html = gr.HTML(elem_id="live-panel")

    generate_btn.click(
        generate,
        inputs=[portrait_in, audio_in, expression_in, intensity_in, pose_scale_in, still_in, mouth_in,
                yaw_in, pitch_in, roll_in, fixed_gaze_in, gaze_x_in, gaze_y_in, blink_rate_in, blink_duration_in,
                seed_in, steps_in, guidance_in, fps_in, size_in],
        outputs=[video_out, files_out], api_name="generate", preprocess=False)
    demo.load(page_info, outputs=[limits_md, live_html], queue=False, api_name=False)


# -- entry point -------------------------------------------------------------------------------
def start_live(settings: AppSettings):
    """Start the WebRTC server of the Live tab on the app's pipeline; returns it (or None with --no-live)."""
    from talkinghead.app_support import LiveServer
    from talkinghead.stream.server import ServerConfig

    server = LiveServer(pipeline(), settings.host, settings.live_port,
                        ServerConfig(max_peers=settings.live_peers, limits=settings.limits))
    server.start()
    return server


def main(argv: list[str] | None = None) -> int:
    global SETTINGS, LIVE
    try:
        SETTINGS = parse_settings(argv)
        pipeline()  # load the models once, before the first visitor
        LIVE = start_live(SETTINGS) if SETTINGS.live else None
    except TalkingHeadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if LIVE is not None:
        print(f"live WebRTC page on http://{SETTINGS.host}:{LIVE.port}/", flush=True)
    try:
        demo.queue(default_concurrency_limit=SETTINGS.concurrency, max_size=SETTINGS.max_queue).launch(
            server_name=SETTINGS.host, server_port=SETTINGS.port, share=False, show_error=False, ssr_mode=False,
            max_file_size=SETTINGS.limits.max_upload_bytes, theme=THEME)
    finally:
        if LIVE is not None:
            LIVE.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
