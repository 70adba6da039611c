"""Entry point of the ``talkinghead`` console script.

Each subcommand lives in its own module under ``talkinghead.cli`` exposing
``add_parser(subparsers)`` (returns the sub-parser) and ``run(args) -> int``.
Errors a user can cause (:class:`~talkinghead.errors.TalkingHeadError`) print one
readable line and exit with status 2; nothing prints a traceback for them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__
from ..errors import TalkingHeadError

# Subcommand modules in the order ``--help`` lists them.
COMMAND_MODULES = (
    "animate",
    "data",
    "demo",
    "eval",
    "export",
    "generate",
    "register",
    "rig_sheet",
    "serve",
    "stream",
    "train",
)

EXIT_USER_ERROR = 2
EXIT_OS_ERROR = 1


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (what is wrong, where to read more) instead of a usage dump;
    subcommand parsers inherit it."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="talkinghead",
        description="Lip-synced talking-head video from one portrait and speech audio.")
    parser.add_argument("--version", action="version", version=f"talkinghead {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__package__}.{name}")
        sp = module.add_parser(sub)
        sp.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return int(args._run(args) or 0)
    except TalkingHeadError as e:
        print(f"talkinghead {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as e:  # the file system refused (permissions, disk full, ...): not a bug to trace
        print(f"talkinghead {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_OS_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
