"""Run library calls in forked children of a helper process whose state never changes.

Some C libraries keep hidden state between calls: espeak-ng's wave generator has
function-level statics (pitch-flutter phase, wave phase) and its prosody remembers the
previous clause, so the same text comes out slightly different on every call and
synthesis is not reproducible. A :class:`ForkServer` starts one small helper process
(``python -m talkinghead.data.forkserver MODULE SETUP``) that imports ``MODULE`` and runs
its ``SETUP`` function once (e.g. initialise the library) and then, for every request,
forks: the child runs the requested function from that pristine state, pickles the
result back and exits. Every call therefore starts from the same state, at the cost of
one ``fork`` of a ~40 MB process (about a millisecond).

Protocol on the helper's stdin/stdout: frames of an 8-byte little-endian length plus a
pickle; requests are ``(function_name, args, kwargs)``, replies ``("ok", value)`` or
``("error", exception)``. C code that prints to stdout in the helper is redirected to
stderr so it cannot corrupt the protocol. The helper exits when its stdin closes (its
parent went away). POSIX only (needs ``os.fork``).
"""

from __future__ import annotations

import gc
import importlib
import os
import pickle
import struct
import subprocess
import sys
import threading
from pathlib import Path

from ..errors import TalkingHeadError

_HEADER = struct.Struct("<Q")


def supported() -> bool:
    """Whether this platform can fork (Linux, macOS)."""
    return hasattr(os, "fork")


def _send(stream, payload: bytes) -> None:
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _receive(stream) -> bytes | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (length,) = _HEADER.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        return None
    return payload


def _run_in_child(module, request: bytes) -> bytes:
    """Fork; the child runs the request and pipes the pickled reply back."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            name, args, kwargs = pickle.loads(request)
            reply = ("ok", getattr(module, name)(*args, **kwargs))
        except BaseException as e:  # every failure goes back to the caller as its exception
            reply = ("error", e)
        try:
            payload = pickle.dumps(reply)
        except Exception as e:  # unpicklable result or exception
            payload = pickle.dumps(("error", TalkingHeadError(f"fork server could not return the result: {e!r}")))
        with os.fdopen(write_fd, "wb") as f:
            f.write(payload)
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        payload = f.read()
    _, status = os.waitpid(pid, 0)
    if not payload:
        payload = pickle.dumps(("error", TalkingHeadError(f"fork server child died (wait status {status})")))
    return payload


def serve(module_name: str, setup_name: str) -> None:
    """The helper's main loop (runs in the helper process)."""
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed to stdout from now on goes to stderr
    sys.stdout = sys.stderr
    protocol_in = sys.stdin.buffer
    try:
        module = importlib.import_module(module_name)
        getattr(module, setup_name)()
        gc.freeze()  # the collector then leaves set-up objects alone: fewer copy-on-write pages per child
        _send(protocol_out, pickle.dumps(("ok", None)))
    except Exception as e:  # report set-up failure (e.g. missing library) to the client
        _send(protocol_out, pickle.dumps(("error", e)))
        return
    while (request := _receive(protocol_in)) is not None:
        _send(protocol_out, _run_in_child(module, request))


class ForkServer:
    """Client of one helper process; calls are serialised by a lock, the helper restarts if it
    dies, and a forked copy of the client (a multiprocessing worker) starts its own helper."""

    def __init__(self, module_name: str, setup_name: str):
        self.module_name = module_name
        self.setup_name = setup_name
        self._process: subprocess.Popen | None = None
        self._owner_pid = os.getpid()  # a forked copy of this client must not share the parent's pipes
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([package_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        process = subprocess.Popen([sys.executable, "-m", __name__, self.module_name, self.setup_name],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self._unpack(_receive(process.stdout), process)
        return process

    def _unpack(self, payload: bytes | None, process: subprocess.Popen):
        if payload is None:
            process.wait()
            raise TalkingHeadError(f"fork server for {self.module_name} exited (code {process.returncode})")
        status, value = pickle.loads(payload)
        if status == "error":
            raise value
        return value

    def call(self, function_name: str, *args, **kwargs):
        """``MODULE.function_name(*args, **kwargs)`` run in a fresh fork of the helper."""
        if self._owner_pid != os.getpid():  # we are a fork (e.g. a multiprocessing worker): own helper
            self._process, self._owner_pid, self._lock = None, os.getpid(), threading.Lock()
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = None
                self._process = self._start()
            process = self._process
            try:
                _send(process.stdin, pickle.dumps((function_name, args, kwargs)))
            except BrokenPipeError:
                self._process = None
                raise TalkingHeadError(f"fork server for {self.module_name} died; the next call restarts it")
            return self._unpack(_receive(process.stdout), process)

    def close(self) -> None:
        """Stop the helper (it also stops by itself when this process exits)."""
        with self._lock:
            if self._process is not None:
                self._process.stdin.close()
                self._process.wait()
                self._process.stdout.close()
                self._process = None


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
