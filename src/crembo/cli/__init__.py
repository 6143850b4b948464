"""The ``crembo`` command line: compress a model, run many compressions, look at a student.

    crembo compress --data table.csv --target label --fit random-forest --out run1
    crembo batch jobs.toml
    crembo show run1/student.skops

Exit codes: 0 success; 2 usage errors and bad input (one line on stderr: unreadable or corrupt
files, unknown columns, a missing target, non-numeric features, untrusted model files, ...);
1 an unexpected error (with its traceback); 130 after Ctrl-C, 143 after SIGTERM. A failed or
interrupted command leaves no output behind: it writes into a temporary folder beside ``--out``
that replaces it at the end (see ``_output``).

One module per concern: ``_args`` (the parser), ``_data`` (loading tables and arrays),
``_output`` (output folders), ``_compress``, ``_batch`` and ``_show`` (the commands).
"""

import contextlib
import signal
import sys
import threading
import traceback

from crembo.cli._args import build_parser
from crembo.cli._batch import _cmd_batch, run_batch
from crembo.cli._compress import _cmd_compress, run_compress
from crembo.cli._errors import CLIError, one_line
from crembo.cli._show import _cmd_show

__all__ = ["CLIError", "main", "run_compress", "run_batch", "build_parser"]

_COMMANDS = {"compress": _cmd_compress, "batch": _cmd_batch, "show": _cmd_show}


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that clean-up (temporary folders, locks) runs."""


def _raise_terminated(signum, frame):
    raise _Terminated()


@contextlib.contextmanager
def _sigterm_raises():
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv=None):
    """Entry point of the ``crembo`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with _sigterm_raises():
            return _COMMANDS[args.command](args)
    except CLIError as exc:
        print(f"crembo {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except ValueError as exc:
        # Raised by crembo or scikit-learn on data they cannot use (a class too small to split,
        # NaN for a teacher that cannot take it, ...): bad input, not a bug.
        print(f"crembo {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"crembo {args.command}: interrupted", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"crembo {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except Exception:
        traceback.print_exc()
        print(f"crembo {args.command}: unexpected error (exit code 1); the traceback above says where", file=sys.stderr)
        return 1
