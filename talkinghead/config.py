"""Configuration: one dataclass per component, optionally filled from ``configs/*.yaml``.

Building a config never does I/O; :func:`load_config` is the only reader.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any, TypeVar

from .errors import TalkingHeadError

T = TypeVar("T")


def from_dict(cls: type[T], values: dict[str, Any] | None) -> T:
    """Build dataclass ``cls`` from a (nested) dict; unknown keys are an error naming the known ones."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise TalkingHeadError(
            f"unknown {cls.__name__} option(s) {unknown}; known options: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        hint = hints.get(name)
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value)
        elif isinstance(value, list) and typing.get_origin(hint) is tuple:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    """A plain dict (JSON/YAML-safe) of a config dataclass, for saving next to weights."""
    return dataclasses.asdict(config)


def load_config(cls: type[T], path: str | os.PathLike | None = None, section: str | None = None) -> T:
    """Read ``cls`` from a YAML file (optionally one top-level ``section`` of it); defaults if ``path`` is None."""
    if path is None:
        return cls()
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except OSError as e:
        raise TalkingHeadError(f"cannot read config file {path}: {e}") from e
    except yaml.YAMLError as e:
        raise TalkingHeadError(f"config file {path} is not valid YAML: {e}") from e
    if section is not None:
        data = data.get(section, {})
    return from_dict(cls, data)
