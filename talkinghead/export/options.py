"""How the ONNX backend runs: providers, threads, which engine renders, where exports are cached.

A plain dataclass (no onnxruntime import), so :class:`~talkinghead.pipeline.PipelineConfig` can hold
one without loading the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import TalkingHeadError

RENDER_ENGINES = ("auto", "onnx", "torch")


@dataclass(frozen=True)
class OnnxOptions:
    """Settings of ``TalkingHead(backend="onnx")``.

    providers: onnxruntime execution providers in order of preference; None = those of
        ``CUDAExecutionProvider``, ``CPUExecutionProvider`` that the installed onnxruntime offers.
    threads: intra-op threads per session; None = the physical cores of this machine.
    render: engine of the per-frame renderer. ``"auto"`` = onnxruntime when a GPU provider is
        active, else torch + OpenCV, which is faster on a CPU (onnxruntime's CPU ``GridSample``
        kernel is several times slower than torch's; see docs/onnx.md); ``"onnx"`` / ``"torch"`` force one.
    cache_dir: folder holding exported graphs (one sub-folder per model hash and per avatar);
        None = ``paths.cache_dir("onnx")``.
    """

    providers: tuple[str, ...] | None = None
    threads: int | None = None
    render: str = "auto"
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.render not in RENDER_ENGINES:
            raise TalkingHeadError(f"OnnxOptions.render must be one of {RENDER_ENGINES}, got {self.render!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise TalkingHeadError(f"OnnxOptions.threads must be a positive integer or None, got {self.threads!r}")
        if self.providers is not None:
            if isinstance(self.providers, str) or not self.providers:
                raise TalkingHeadError("OnnxOptions.providers must be a non-empty sequence of provider names or None")
            object.__setattr__(self, "providers", tuple(str(p) for p in self.providers))
