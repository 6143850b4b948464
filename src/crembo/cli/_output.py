"""Output folders: crembo replaces only what it wrote, and two runs never write the same folder.

``output_folder(out, overwrite)`` checks ``out`` before any work is done, locks it, and yields a
fresh temporary folder beside it. When the body succeeds, a manifest naming every entry is
written into the temporary folder and the folder is renamed to ``out``; on any failure,
Ctrl-C or SIGTERM the temporary folder, the lock and any parent folders made for it are removed.

``--overwrite`` replaces an existing ``out`` only when the manifest there lists everything in
it: a folder with anything crembo did not write (``--out .`` in a project folder) is refused.
"""

import contextlib
import json
import math
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

from crembo.cli._errors import CLIError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

MANIFEST = ".crembo-manifest.json"


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _foreign_entries(out):
    """Entries of the folder ``out`` that its crembo manifest does not list (all of them when
    there is no readable manifest)."""
    entries = {p.name for p in out.iterdir()} - {MANIFEST}
    try:
        listed = json.loads((out / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return sorted(entries)
    if not isinstance(listed, list):
        return sorted(entries)
    return sorted(entries - {str(name) for name in listed})


def check_out(out, overwrite):
    """CLIError unless ``out`` may be written: absent, an empty folder, or (with ``overwrite``) a
    folder holding only what a previous crembo run wrote there."""
    out = Path(out)
    if out.is_symlink():
        raise CLIError(f"--out {out} is a symbolic link; give the folder it points to")
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} exists and is not a directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise CLIError(f"--out {out} exists and is not empty; pass --overwrite to replace an earlier crembo result")
    foreign = _foreign_entries(out)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise CLIError(
            f"--out {out} holds files crembo did not write ({shown}); --overwrite replaces only a "
            "folder of crembo's own results: choose a new or empty --out"
        )


def _make_parents(folder):
    """Create ``folder`` and its missing parents; returns those made, innermost first."""
    made = []
    p = folder
    while not p.exists() and p != p.parent:
        made.append(p)
        p = p.parent
    try:
        for d in reversed(made):
            d.mkdir()  # mode 0o777 minus the umask, like mkdir(1)
    except OSError as exc:
        _remove_empty(made)
        raise CLIError(f"cannot create the output folder {folder}: {exc.strerror or exc}") from None
    return made


def _remove_empty(folders):
    for d in folders:  # innermost first
        with contextlib.suppress(OSError):
            d.rmdir()


@contextlib.contextmanager
def _lock(out):
    """Hold ``.<name>.lock`` beside ``out`` for the whole run; a second run on the same ``out``
    fails at once instead of silently replacing the first one's result at the end."""
    path = out.parent / f".{out.name}.lock"
    busy = CLIError(
        f"another crembo run is writing {out} (it holds {path}); wait for it to finish or choose another --out"
    )
    flags = os.O_RDWR | os.O_CREAT | (0 if fcntl else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o666)
    except FileExistsError:  # no fcntl: the lock file itself is the lock
        raise busy from None
    except OSError as exc:
        raise CLIError(f"cannot write in {out.parent}: {exc.strerror or exc}") from None
    held = fcntl is None
    try:
        if not held:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise busy from None
            # The run that held it removes the file before letting go: then our handle is to a
            # nameless file, and a third run may already hold a new one under the name.
            try:
                held = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                held = False
            if not held:
                raise busy
        yield
    finally:
        if held:  # removed while still held, so nobody can lock the old file under its name
            with contextlib.suppress(OSError):
                os.unlink(path)
        os.close(fd)


def _new_folder(parent, prefix):
    """A new, empty folder ``parent/prefix<random>`` created with the umask's permissions
    (``tempfile.mkdtemp`` would make it 0700, and the rename would keep that)."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise CLIError(f"cannot write in {parent}: {exc.strerror or exc}") from None


def _write_manifest(folder):
    import crembo

    files = sorted(p.name for p in folder.iterdir() if p.name != MANIFEST)
    doc = {"written_by": f"crembo {crembo.__version__}", "files": files}
    (folder / MANIFEST).write_text(json.dumps(doc, indent=2) + "\n")


def _replace(tmp, out, overwrite):
    if not out.exists():
        os.rename(tmp, out)
        return
    check_out(out, overwrite)  # again, right before replacing: nothing foreign added meanwhile
    trash = _new_folder(out.parent, f".{out.name}.old-")
    os.rename(out, trash / "old")
    os.rename(tmp, out)
    shutil.rmtree(trash, ignore_errors=True)


@contextlib.contextmanager
def output_folder(out, overwrite=False):
    """Yield a temporary folder that becomes ``out`` when the body succeeds (see the module
    docstring); every check that can fail is made before the body runs."""
    check_out(out, overwrite)  # names --out as the user gave it
    out = Path(out).absolute()
    made = _make_parents(out.parent)
    try:
        with _lock(out):
            check_out(out, overwrite)  # a run that held the lock may have written it meanwhile
            tmp = _new_folder(out.parent, f".{out.name}.tmp-")
            try:
                yield tmp
                _write_manifest(tmp)
                _replace(tmp, out, overwrite)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except BaseException:
        _remove_empty(made)
        raise
