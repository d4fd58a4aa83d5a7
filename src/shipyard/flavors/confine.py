"""Confine a child running user code: Landlock keeps it to its private directory and away from the store's
files, and a child started as root gives up every capability.

A scrubbed environment keeps secrets out of a child's ``os.environ``; it does not stop a child running as
the same OS user from opening ``.shipyard/shipyard.db`` (the embedded store) or ``.shipyard/evidence.key``,
from planting code that the next privileged process runs (a ``.pth`` file in the virtualenv, a
``.git/config`` hook, a new ``shipyard.yaml``), or, as root, from reading another process's environment.
``confine``, called by the child itself before any user code runs, closes those without privileges:

- Landlock (Linux 5.13+): writes (create, delete, rename, write, truncate) only beneath ``writable`` (the
  private ``mkdtemp`` directory) and ``/dev/shm`` (POSIX semaphores of multiprocessing/joblib), plus
  writing ``/dev/null``; reading or executing a file anywhere except beneath ``hidden`` (the workspace's
  ``.shipyard/``, a SQLite store's folder, a local artifact folder). Landlock only *grants*, so this grants
  every sibling along the path to each hidden folder; directory listings stay allowed everywhere. The
  child may not ptrace, nor open ``/proc/<pid>/mem`` of, a process outside its sandbox, and from ABI 6 not
  signal one.
- Capabilities: a child running as root drops its whole bounding set, its ambient and its effective,
  permitted and inheritable sets (with ``no_new_privs``, an ``execve`` gets none back). Root without
  CAP_SYS_PTRACE then cannot read ``/proc/<pid>/environ`` of a process made non-dumpable by
  ``sandbox.protect_parent`` (the parents holding the secrets), as for any other user.

Best effort like ``sandbox.protect_parent``: where Landlock is missing (another OS, an older kernel, not
enabled at boot) the child runs with the scrubbed environment, limits and dropped capabilities only, and
``confine`` says so in what it returns.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # the same number on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 24, 47, 4
CAP_VERSION_3 = 0x20080522

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM, REFER, TRUNCATE = 1 << 9, 1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 14
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # Landlock ABI 4 (Linux 6.7)

READ = EXECUTE | READ_FILE
WRITE_V1 = (WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_CHAR | MAKE_DIR | MAKE_REG | MAKE_SOCK | MAKE_FIFO
            | MAKE_BLOCK | MAKE_SYM)
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE  # the rights a rule on a non-directory may carry


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is unavailable."""
    libc = _libc()
    if libc is None:
        return 0
    version = int(libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION)))
    return max(version, 0)


def handled_rights(version: int) -> int:
    """The filesystem rights the ruleset restricts at ABI ``version`` (REFER from 2, TRUNCATE from 3)."""
    rights = READ | WRITE_V1
    if version >= 2:
        rights |= REFER
    if version >= 3:
        rights |= TRUNCATE
    return rights


def read_grants(hidden: Iterable[Path], root: Path = Path("/")) -> list[Path]:
    """Paths to grant reading beneath so that everything beneath ``root`` is readable except what lies beneath
    ``hidden``: ``root`` itself when no hidden folder is in it, else every entry of every folder on the way
    from ``root`` to a hidden folder, minus that way itself. An entry that resolves (symlink) onto the way or
    into a hidden folder is left out."""
    root = Path(os.path.realpath(root))
    hide = {Path(os.path.realpath(h)) for h in hidden}
    if root in hide or any(root.is_relative_to(h) for h in hide):
        return []
    hide = {h for h in hide if h.is_relative_to(root)}
    if not hide:
        return [root]
    on_way = {a for h in hide for a in (h, *h.parents) if a.is_relative_to(root)}
    grants: list[Path] = []
    for folder in sorted(on_way - hide, key=lambda p: len(p.parts)):
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in entries:
            entry = folder / name
            if entry in on_way:
                continue
            real = Path(os.path.realpath(entry))
            if real in on_way or any(real.is_relative_to(h) for h in hide):
                continue
            grants.append(entry)
    return grants


def confine(writable: Iterable[Path], hidden: Iterable[Path], *, readable: Iterable[Path] | None = None,
            network: bool = True) -> dict[str, object]:
    """Restrict this process (and its future children) as the module docstring says. Call it before running
    any user code. ``readable``: read only beneath these paths (and ``writable``), instead of everywhere
    except ``hidden``; ``network=False``: no TCP ``connect`` or ``bind`` at all (Landlock ABI 4+).

    Returns:
        ``{"landlock": ABI applied (0: unavailable, nothing restricted), "capabilities": "dropped" | "none",
        "network": "denied" | "allowed" | "unrestricted"}`` (unrestricted: asked to deny, the kernel cannot).

    Raises:
        OSError: the kernel refused a restriction it offers (the caller must not run user code then).
    """
    libc = _libc()
    if libc is None:
        return {"landlock": 0, "capabilities": "none", "network": "allowed" if network else "unrestricted"}
    caps = drop_capabilities(libc)
    version = landlock_abi()
    deny_net = not network and version >= 4
    if version >= 1:
        _restrict(libc, version, writable, hidden, readable, deny_net)
    elif int(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) != 0:
        raise _os_error(libc, "prctl(PR_SET_NO_NEW_PRIVS)")
    return {"landlock": version, "capabilities": caps,
            "network": "allowed" if network else "denied" if deny_net else "unrestricted"}


SYSTEM_READABLE = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/proc", "/sys", "/dev")


def python_readable() -> list[Path]:
    """What a model process needs to read: the interpreter's and the virtualenv's prefixes, every folder on
    ``sys.path`` (site-packages, an editable checkout's source), and the system's libraries and
    configuration; not the home folder (``~/.aws``, ``~/.pgpass``, ``~/.ssh``), not a workspace, not
    ``/tmp``, not ``/var``."""
    paths = {Path(p) for p in SYSTEM_READABLE}
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        paths.add(Path(prefix))
    for entry in sys.path:
        if entry and os.path.isdir(entry) and Path(entry).resolve() != Path.cwd().resolve():
            paths.add(Path(entry))
    return sorted({Path(os.path.realpath(p)) for p in paths} | paths)


def drop_capabilities(libc: ctypes.CDLL) -> str:
    """Give up every capability (a root child); ``"none"`` when this process held none to begin with."""
    header, data = _CapHeader(CAP_VERSION_3, 0), (_CapData * 2)()
    if int(libc.capget(ctypes.byref(header), data)) != 0:
        raise _os_error(libc, "capget")
    if not any(d.effective or d.permitted or d.inheritable for d in data):
        return "none"
    try:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        if int(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)) != 0:
            # EINVAL: a capability this kernel does not know; EPERM: no CAP_SETPCAP (a container) -- the sets
            # below are still emptied, and with no_new_privs an execve intersects with the empty permitted set
            if ctypes.get_errno() not in (errno.EINVAL, errno.EPERM):
                raise _os_error(libc, f"prctl(PR_CAPBSET_DROP, {cap})")
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # EINVAL before Linux 4.3: nothing to clear
    empty = (_CapData * 2)()
    if int(libc.capset(ctypes.byref(_CapHeader(CAP_VERSION_3, 0)), empty)) != 0:
        raise _os_error(libc, "capset")
    return "dropped"


def _restrict(libc: ctypes.CDLL, version: int, writable: Iterable[Path], hidden: Iterable[Path],
              readable: Iterable[Path] | None, deny_net: bool) -> None:
    handled = handled_rights(version)
    net = (NET_BIND_TCP | NET_CONNECT_TCP) if deny_net else 0  # handled with no rule: every port refused
    attr = _RulesetAttr(handled, net, (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if version >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if version >= 6 else 16 if version >= 4 else 8
    ruleset = int(libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)))
    if ruleset < 0:
        raise _os_error(libc, "landlock_create_ruleset")
    try:
        hide = list(hidden)
        if readable is not None:
            roots = [g for p in readable for g in read_grants(hide, p)]
        else:
            roots = read_grants(hide) if hide else [Path("/")]
        for path in roots:
            _grant(libc, ruleset, path, READ)
        for path in writable:
            _grant(libc, ruleset, Path(path), handled)
        _grant(libc, ruleset, Path("/dev/shm"), handled)
        _grant(libc, ruleset, Path("/dev/null"), READ_FILE | WRITE_FILE)
        if int(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) != 0:
            raise _os_error(libc, "prctl(PR_SET_NO_NEW_PRIVS)")
        if int(libc.syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))) != 0:
            raise _os_error(libc, "landlock_restrict_self")
    finally:
        os.close(ruleset)


def _grant(libc: ctypes.CDLL, ruleset: int, path: Path, rights: int) -> None:
    """Allow ``rights`` beneath ``path`` (only the file rights when it is not a folder); a path that vanished
    or cannot be opened is skipped: a grant missing only denies more."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= FILE_RIGHTS
        if not rights:
            return
        rule = _PathBeneathAttr(rights, fd)
        if int(libc.syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                            ctypes.byref(rule), ctypes.c_uint32(0))) != 0:
            raise _os_error(libc, f"landlock_add_rule({path})")
    finally:
        os.close(fd)


def _os_error(libc: ctypes.CDLL, what: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{what}: {os.strerror(code)}")
