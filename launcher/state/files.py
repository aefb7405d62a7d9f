"""The one way robostack opens files in a state folder: nothing planted there is ever trusted.

A state folder holds the lock, the run state that names processes to signal, the
timeline and the services' logs. If someone else could write there, they could make
robostack signal a process of their choice or overwrite a file through a symbolic
link. So every access goes through here, and:

* the folder, every folder below it on the way to a file, and the file itself must be
  owned by the current user and not writable by group or others; anything else is a
  :class:`StateError` naming the path and its owner (exit code 6);
* folders above the state folder must be owned by the user or root, and may be
  writable by others only with the sticky bit (like /tmp): otherwise their owner could
  swap the state folder for another;
* nothing is followed: every path component below the state folder is opened with
  ``O_NOFOLLOW`` relative to its parent's descriptor (no window to swap a folder for a
  link between the check and the open), and files are opened non-blocking so a FIFO
  planted under a file's name cannot hang robostack;
* temporary files get random names and are created with ``O_EXCL``;
* robostack only changes the mode of folders it creates itself; an existing folder
  that is unsafe is refused, never chmod'ed (``ROBOSTACK_STATE_DIR=/tmp`` is refused,
  not locked down for everyone).

The current-log links (``logs/<service>.log``) are robostack's own: they are created
here and read back only if they point inside the logs folder.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from launcher.errors import StateError

TYPE_CHECKING = False  # typing itself costs every command its import
if TYPE_CHECKING:
    import socket
    from typing import BinaryIO, Iterator

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_UNSAFE_BITS = stat.S_IWGRP | stat.S_IWOTH
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# State files are small; a run.json larger than this was not written by robostack.
MAX_STATE_FILE = 16 * 1024 * 1024


def owner_name(uid: int) -> str:
    """'user bob (uid 1001)', or 'uid 1001' when the user database does not know it."""
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (KeyError, ImportError):
        return f"uid {uid}"


def check_owned(path: Path | str, status: os.stat_result, what: str = "state folder") -> None:
    """Refuse `path` (already stat'ed) unless the current user owns it and only they can write it."""
    me = os.geteuid()
    if status.st_uid != me:
        raise StateError(f"{what} {path} belongs to {owner_name(status.st_uid)}, not to you "
                         f"({owner_name(me)}); robostack only uses state you own")
    if status.st_mode & _UNSAFE_BITS:
        raise StateError(f"{what} {path} is writable by {_who_can_write(status.st_mode)} (mode "
                         f"{stat.S_IMODE(status.st_mode):04o}); robostack only uses state only you can write")


def _who_can_write(mode: int) -> str:
    both = (mode & stat.S_IWGRP) and (mode & stat.S_IWOTH)
    return "its group and others" if both else ("its group" if mode & stat.S_IWGRP else "others")


def check_ancestors(path: Path) -> None:
    """Refuse a state folder whose parent folders someone else could rearrange.

    Each existing ancestor must be owned by the user or root, and if others may write
    it, it must have the sticky bit (then they cannot rename what is not theirs).
    """
    me = os.geteuid()
    for ancestor in Path(path).parents:
        try:
            status = os.stat(ancestor)
        except FileNotFoundError:
            continue
        except OSError as err:
            raise StateError(f"cannot check folder {ancestor} above the state folder: {err.strerror}") from err
        if status.st_uid not in (me, 0):
            raise StateError(f"folder {ancestor} above the state folder {path} belongs to "
                             f"{owner_name(status.st_uid)}, who could replace the state folder; "
                             "choose a state folder under folders you or root own (ROBOSTACK_STATE_DIR)")
        if status.st_mode & _UNSAFE_BITS and not status.st_mode & stat.S_ISVTX:
            raise StateError(f"folder {ancestor} above the state folder {path} is writable by "
                             f"{_who_can_write(status.st_mode)} without the sticky bit, so they could replace "
                             "the state folder; choose another state folder (ROBOSTACK_STATE_DIR)")


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and missing parents) private to this user, or check an existing one.

    Only folders created here get their mode set; an existing folder is checked and
    refused if unsafe, never changed.
    """
    path = Path(path)
    missing = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    check_ancestors(path)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR_MODE)
            os.chmod(folder, PRIVATE_DIR_MODE)  # ours: undo a umask that took the owner's own bits
        except FileExistsError:
            pass  # created meanwhile by a concurrent robostack; checked below like any existing folder
        except OSError as err:
            raise StateError(f"cannot create state folder {folder}: {err.strerror}") from err
    descriptor = open_dir(path)
    os.close(descriptor)


def check_existing_dir(path: Path) -> bool:
    """Refuse an existing state folder that is unsafe (StateError); False if there is none yet.

    Cheap enough for every command: read-only ones (status, events, down) call it before
    reading anything, so another user's folder is a one-line refusal, not a surprise later.
    """
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as err:
        raise StateError(f"cannot look at state folder {path}: {err.strerror}") from err
    if not stat.S_ISDIR(status.st_mode):
        raise StateError(f"state folder {path} is {_kind(status.st_mode)}, not a folder; robostack never follows "
                         "links in its state: point ROBOSTACK_STATE_DIR at the real folder, or remove it")
    check_owned(path, status)
    check_ancestors(Path(path))
    return True


def open_dir(path: Path) -> int:
    """A descriptor on the state folder `path` itself (not a link), after checking who owns it."""
    try:
        descriptor = os.open(path, _DIR_FLAGS)
    except OSError as err:
        raise _open_error(path, err, "state folder") from err
    return _checked(descriptor, path, "state folder", stat.S_ISDIR)


def _checked(descriptor: int, path: Path | str, what: str, kind_ok) -> int:
    try:
        status = os.fstat(descriptor)
        if not kind_ok(status.st_mode):
            raise StateError(f"{what} {path} is {_kind(status.st_mode)}, not what robostack put there; "
                             "remove it to start afresh")
        check_owned(path, status, what)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISLNK, "a symbolic link"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return name
    return "an unknown kind of file"


def _open_error(path: Path | str, err: OSError, what: str) -> Exception:
    if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return StateError(f"{what} {path} is a symbolic link or not a folder; robostack never follows links "
                          "in its state folder: remove it to start afresh")
    if isinstance(err, FileNotFoundError):
        return err  # callers decide what a missing file means
    return StateError(f"cannot open {what} {path}: {err.strerror or err}")


def _relative_parts(path: Path, root: Path) -> tuple[str, ...]:
    try:
        parts = PurePosixPath(path).relative_to(root).parts
    except ValueError:
        raise StateError(f"{path} is not inside the state folder {root}") from None
    if not parts or any(part in ("", ".", "..") for part in parts):
        raise StateError(f"{path} is not a file inside the state folder {root}")
    return parts


@contextmanager
def _parent_descriptor(path: Path, root: Path | None, make_dirs: bool) -> Iterator[tuple[int, str]]:
    """The checked folder holding `path`, walked from `root` without following links, and the leaf name."""
    root = Path(path).parent if root is None else Path(root)
    parts = _relative_parts(Path(path), root)
    if make_dirs:
        ensure_private_dir(root)
    descriptor = open_dir(root)
    try:
        where = root
        for name in parts[:-1]:
            where = where / name
            if make_dirs:
                try:
                    os.mkdir(name, PRIVATE_DIR_MODE, dir_fd=descriptor)
                except FileExistsError:
                    pass
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=descriptor)
            except OSError as err:
                raise _open_error(where, err, "folder") from err
            os.close(descriptor)
            descriptor = _checked(child, where, "folder", stat.S_ISDIR)
        yield descriptor, parts[-1]
    finally:
        os.close(descriptor)


def open_file(path: Path, flags: int, mode: int = PRIVATE_FILE_MODE, *, root: Path | None = None,
              make_dirs: bool = False) -> int:
    """Open a state file without following links; the descriptor is checked (regular, yours, private).

    `root` is the checked state folder the path is walked from (default: the file's own
    folder); with `make_dirs`, missing folders between them are created private. A
    missing file without ``O_CREAT`` raises FileNotFoundError; anything unsafe StateError.
    """
    with _parent_descriptor(path, root, make_dirs) as (folder, name):
        try:
            descriptor = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode, dir_fd=folder)
        except OSError as err:
            raise _open_error(path, err, "state file") from err
    descriptor = _checked(descriptor, path, "state file", stat.S_ISREG)
    if not flags & os.O_NONBLOCK:
        fcntl.fcntl(descriptor, fcntl.F_SETFL, fcntl.fcntl(descriptor, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return descriptor


def open_for_reading(path: Path | str) -> BinaryIO:
    """A state or log file opened for reading the way every state file is (no link followed, yours alone)."""
    return os.fdopen(open_file(Path(path), os.O_RDONLY), "rb")


def read_bytes(path: Path, *, root: Path | None = None, limit: int = MAX_STATE_FILE) -> bytes | None:
    """The whole content of a state file, or None if it does not exist."""
    try:
        descriptor = open_file(path, os.O_RDONLY, root=root)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(descriptor).st_size
        if size > limit:
            raise StateError(f"state file {path} is {size} bytes, more than robostack ever writes ({limit}); "
                             "remove it to start afresh")
        chunks = []
        while chunk := os.read(descriptor, 1024 * 1024):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as err:
        raise StateError(f"cannot read {path}: {err.strerror or err}") from err
    finally:
        os.close(descriptor)


def write_atomically(path: Path, data: bytes, *, root: Path | None = None) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never a mix.

    The temporary file has a random name and is created exclusively (``O_EXCL``), so a
    link or file planted under a predictable name is never written through.
    """
    with _parent_descriptor(path, root, False) as (folder, name):
        temporary = f".{name}.{_random_tag()}.tmp"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                 PRIVATE_FILE_MODE, dir_fd=folder)
        except OSError as err:
            raise StateError(f"cannot write {path}: {err.strerror}") from err
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(descriptor, view):]
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.rename(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
        except OSError as err:
            _unlink_quietly(temporary, folder)
            raise StateError(f"cannot write {path}: {err.strerror}") from err


def replace_symlink(link: Path, target: PurePosixPath, *, root: Path | None = None) -> None:
    """Point `link` at `target` (relative, inside the link's folder tree) atomically: new link, then rename."""
    if target.is_absolute() or ".." in target.parts:
        raise StateError(f"refusing to point {link} outside its folder ({target})")
    with _parent_descriptor(link, root, False) as (folder, name):
        temporary = f".{name}.{_random_tag()}"
        try:
            os.symlink(str(target), temporary, dir_fd=folder)
            os.rename(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
        except OSError as err:
            _unlink_quietly(temporary, folder)
            raise StateError(f"cannot point {link} at {target}: {err.strerror}") from err


def read_link_inside(link: Path, *, root: Path | None = None) -> Path | None:
    """Where one of robostack's own links points, if it stays inside its folder; None if there is no link.

    A link pointing elsewhere (absolute, or through ``..``) was not made by robostack and
    is refused with StateError.
    """
    try:
        with _parent_descriptor(link, root, False) as (folder, name):
            target = PurePosixPath(os.readlink(name, dir_fd=folder))
    except FileNotFoundError:
        return None  # no link yet, or no state folder at all
    except OSError as err:
        if err.errno == errno.EINVAL:
            raise StateError(f"{link} should be robostack's link to the current log, but is not a link; "
                             "remove it") from err
        raise StateError(f"cannot read the link {link}: {err.strerror}") from err
    if target.is_absolute() or ".." in target.parts or not target.parts:
        raise StateError(f"{link} points outside the state folder ({target}); robostack never made that link: "
                         "remove it")
    return Path(link).parent / target


# -- Unix sockets in the state folder ---------------------------------------------------------------
#
# A socket's path is limited to 108 bytes (sun_path), and state folders can be deeper than that. So
# sockets are bound and reached through the checked folder's descriptor: /proc/self/fd/<N>/<name>
# (about 30 bytes) names the very folder that was opened without following links and checked, so the
# path cannot be swapped between the check and the bind or connect, whatever its length.


def _through_descriptor(folder: int, name: str) -> str:
    return f"/proc/self/fd/{folder}/{name}"


def _existing_socket(folder: int, name: str, path: Path | str) -> os.stat_result | None:
    """The socket already named `name` (not followed), checked to be this user's; None if there is none."""
    try:
        status = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StateError(f"cannot look at {path}: {err.strerror}") from err
    if not stat.S_ISSOCK(status.st_mode):
        raise StateError(f"{path} is {_kind(status.st_mode)}, not robostack's control socket; remove it")
    check_owned(path, status, "control socket")
    return status


def bind_private_socket(path: Path, *, root: Path | None = None) -> tuple[socket.socket, tuple[int, int]]:
    """A listening Unix stream socket at `path` (mode 0600) and its file's (device, inode).

    It is bound under a random name and renamed over `path`, so a socket file a killed
    supervisor left there is replaced in one step, never followed or half-replaced;
    anything else found at `path` (a file, a link, a folder) is refused (StateError).
    """
    import socket  # here, not above: the socket module would cost every command its import

    with _parent_descriptor(path, root, False) as (folder, name):
        _existing_socket(folder, name, path)
        temporary = f".{name}.{_random_tag()}"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(_through_descriptor(folder, temporary))
            os.chmod(temporary, PRIVATE_FILE_MODE, dir_fd=folder)
            listener.listen(64)
            os.rename(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
            status = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except OSError as err:
            listener.close()
            _unlink_quietly(temporary, folder)
            raise StateError(f"cannot create the control socket {path}: {err.strerror or err}") from err
    return listener, (status.st_dev, status.st_ino)


@contextmanager
def socket_address(path: Path, *, root: Path | None = None) -> Iterator[str]:
    """A short address to connect to the socket `path`, valid inside the block.

    The folders on the way are checked like every state folder, and the socket must be
    this user's (StateError otherwise); FileNotFoundError if there is no socket.
    """
    with _parent_descriptor(path, root, False) as (folder, name):
        if _existing_socket(folder, name, path) is None:
            raise FileNotFoundError(errno.ENOENT, "no socket", str(path))
        yield _through_descriptor(folder, name)


def remove_socket(path: Path, identity: tuple[int, int], *, root: Path | None = None) -> None:
    """Remove the socket file `path` if it is still the one bound (`identity`); quietly, when closing."""
    try:
        with _parent_descriptor(path, root, False) as (folder, name):
            status = os.stat(name, dir_fd=folder, follow_symlinks=False)
            if (status.st_dev, status.st_ino) == identity:
                os.unlink(name, dir_fd=folder)
    except (OSError, StateError):
        pass


def _unlink_quietly(name: str, folder: int) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except OSError:
        pass


def _random_tag() -> str:
    """16 random hex digits for a temporary name (os.urandom: the secrets module costs every command its import)."""
    return os.urandom(8).hex()
