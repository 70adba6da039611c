"""``manifest.json`` of an export folder: what each graph is, its inputs/outputs, checksums, its source.

Format (``format_version`` 1)::

    {
      "format": "talkinghead.onnx", "format_version": 1, "kind": "model" | "avatar",
      "talkinghead_version": "0.1.0", "torch_version": "...", "onnx_version": "...", "opset": 17,
      "source": {...},                      # what the graphs were exported from (see exporter.py)
      "graphs": {
        "<name>": {"file": "<name>.onnx", "sha256": "<hex>", "bytes": 123,
                   "inputs":  [{"name": "windows", "dtype": "float32", "shape": ["K", 15600]}, ...],
                   "outputs": [...]},
        ...
      }
    }

Shapes are read back from the exported file: an int is a fixed size, a string a dynamic axis.
The manifest is written last (atomically), so a folder with a valid manifest is complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ChecksumError, ModelNotFoundError
from ..paths import atomic_path, sha256_file

MANIFEST_NAME = "manifest.json"
FORMAT = "talkinghead.onnx"
FORMAT_VERSION = 1


def value_info(values) -> list[dict]:
    """Name, dtype and shape (ints, or strings for dynamic axes) of ONNX graph inputs or outputs."""
    from onnx import helper

    out = []
    for v in values:
        tensor = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
        out.append({"name": v.name, "dtype": str(helper.tensor_dtype_to_np_dtype(tensor.elem_type)), "shape": dims})
    return out


def graph_entry(path: Path) -> dict:
    """Manifest entry of an exported ``.onnx`` file (file name, sha256, size, inputs, outputs)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "inputs": value_info(model.graph.input), "outputs": value_info(model.graph.output)}


def write_manifest(folder: Path, manifest: dict) -> Path:
    """Write ``folder/manifest.json`` atomically."""
    path = Path(folder) / MANIFEST_NAME
    tmp = atomic_path(path)
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_manifest(folder: str | os.PathLike) -> dict:
    """The manifest of an export folder (ModelNotFoundError when absent or not ours)."""
    path = Path(folder) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ModelNotFoundError(f"{path} not found: export with `talkinghead export --out {folder}`") from e
    except json.JSONDecodeError as e:
        raise ModelNotFoundError(f"{path} is not valid JSON ({e}); export again") from e
    if manifest.get("format") != FORMAT:
        raise ModelNotFoundError(f"{path} is not a talkinghead ONNX manifest (format {manifest.get('format')!r})")
    return manifest


def verify_files(folder: str | os.PathLike, manifest: dict) -> None:
    """Check every graph file of ``manifest`` against its recorded sha256 (ChecksumError otherwise)."""
    for name, entry in manifest["graphs"].items():
        path = Path(folder) / entry["file"]
        if not path.is_file():
            raise ChecksumError(f"{path} ({name} graph) is missing; export again")
        actual = sha256_file(path)
        if actual != entry["sha256"]:
            raise ChecksumError(f"{path} has sha256 {actual}, manifest says {entry['sha256']}: the file was "
                                "changed or damaged; export again")
