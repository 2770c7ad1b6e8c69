"""The open-file limit for maxclients: redis-server's adjustOpenFilesLimit.

maxclients connections need as many descriptors, plus some for listeners, log files,
the append-only log and the engines' own (redis-server keeps 32). At start and on
CONFIG SET maxclients the soft limit is raised to make room; where the hard limit (or
the kernel) will not allow it, the highest limit it does allow is kept, maxclients is
reduced to fit, and the reasons are logged with redis-server's words.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
from typing import Final

__all__ = ["RESERVED_FDS", "adjust_open_files_limit"]

log = logging.getLogger("tensorserve.server")

RESERVED_FDS: Final = 32  # CONFIG_MIN_RESERVED_FDS in redis-server
_STEP: Final = 16  # how far each failed try steps down, as redis-server


def adjust_open_files_limit(maxclients: int) -> int:
    """Raise RLIMIT_NOFILE for ``maxclients``; the maxclients the limit allows.

    Returns ``maxclients`` when there is room (raising the soft limit if needed), else
    the limit less the reserved descriptors, with redis-server's warnings. Raises
    OSError when not even the reserved descriptors fit (redis-server exits then).
    """
    want = maxclients + RESERVED_FDS
    try:
        old, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError) as e:  # pragma: no cover - always available on Linux
        log.warning("Unable to obtain the current NOFILE limit (%s), assuming 1024 and "
                    "setting the max clients configuration accordingly.", e)
        return min(maxclients, 1024 - RESERVED_FDS)
    if old == resource.RLIM_INFINITY or old >= want:
        return maxclients
    # The limit wanted, else the highest below it on redis-server's grid (want - 16 k)
    # that setrlimit takes, down to the current one. redis-server tries every step
    # (and sets soft and hard together); nothing above nr_open or, unprivileged, above
    # the hard limit can succeed, so those are tried first, then the steps below.
    best, error = 0, errno.EPERM
    jumps = sorted({want, _on_grid(want, _nr_open()), _on_grid(want, hard)}, reverse=True)
    steps = range(min(jumps) - _STEP, old, -_STEP)  # if even the caps are refused
    for cand in (*jumps, *steps):
        if cand <= old:
            break
        try:
            top = hard if hard == resource.RLIM_INFINITY or hard >= cand else cand
            resource.setrlimit(resource.RLIMIT_NOFILE, (cand, top))
            best = cand
            break
        except (OSError, ValueError) as e:
            error = _errno(e)
    best = max(best, old)
    if best >= want:
        log.info("Increased maximum number of open files to %d (it was originally set "
                 "to %d).", want, old)
        return maxclients
    if best <= RESERVED_FDS:
        raise OSError(
            f"Your current 'ulimit -n' of {old} is not enough for the server to start. "
            f"Please increase your open file limit to at least {want}. Exiting.")
    reduced = best - RESERVED_FDS
    log.warning("You requested maxclients of %d requiring at least %d max file "
                "descriptors.", maxclients, want)
    log.warning("Server can't set maximum open files to %d because of OS error: %s.",
                want, os.strerror(error))
    log.warning("Current maximum open files is %d. maxclients has been reduced to %d to "
                "compensate for low ulimit. If you need higher maxclients increase "
                "'ulimit -n'.", best, reduced)
    return reduced


def _on_grid(want: int, limit: int) -> int:
    """The highest ``want - 16 k`` not above ``limit``."""
    if limit == resource.RLIM_INFINITY or limit >= want:
        return want
    return want - (want - limit + _STEP - 1) // _STEP * _STEP


def _nr_open() -> int:
    """The kernel's cap on any process's open-file limit (Linux), else no cap."""
    try:
        with open("/proc/sys/fs/nr_open") as f:
            return int(f.read())
    except (OSError, ValueError):
        return resource.RLIM_INFINITY


def _errno(e: Exception) -> int:
    # resource.setrlimit reports EINVAL and EPERM as ValueError, without errno.
    if isinstance(e, OSError) and e.errno:
        return e.errno
    return errno.EINVAL if "exceeds" in str(e) else errno.EPERM
