"""``tensorserve [configfile] [--name value ...]``: flags and config file -> Config -> run.

Like redis-server: an optional redis.conf-style file first, then ``--name value``
options (any parameter in :data:`tensorserve.config.PARAMS`; values may be several
words, e.g. ``--save 60 1000``), applied after the file.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence

from . import __version__, logs
from .config import PARAMS, Config, ConfigError, parse_config_file, with_values

__all__ = ["main", "parse_args"]

_USAGE = """Usage: tensorserve [/path/to/tensorserve.conf] [options]
       tensorserve -v or --version
       tensorserve -h or --help
       tensorserve check-aof [--fix] <file.aof>
       tensorserve ping [--host H] [--port P]   (health check; REDISCLI_AUTH: password)

Options are redis.conf parameters, e.g.
       tensorserve --port 7777 --bind 0.0.0.0 --requirepass secret
       tensorserve /etc/tensorserve.conf --loglevel verbose --save 60 1000

Known parameters: """


def parse_args(argv: Sequence[str]) -> tuple[Config, str]:
    """The Config described by ``argv`` (without the program name) and the config file."""
    items: list[tuple[str, str]] = []
    args = list(argv)
    config_file = ""
    if args and not args[0].startswith("--"):
        config_file = os.path.abspath(args.pop(0))
        items.extend(parse_config_file(config_file))
    name: str | None = None
    values: list[str] = []
    for arg in args:
        if arg.startswith("--") and len(arg) > 2:
            if name is not None:
                items.append((name, " ".join(values)))
            name, values = arg[2:], []
        elif name is None:
            raise ConfigError(f"unexpected argument '{arg}'")
        else:
            values.append(arg)
    if name is not None:
        items.append((name, " ".join(values)))
    return with_values(Config(), items), config_file


def main(argv: Sequence[str] | None = None) -> int:
    # numpy (tensors, INCRBYFLOAT's long double) needs no BLAS threads here, and idle
    # OpenBLAS workers spin for a while after start-up, stealing a core from the loop.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # torch's OpenMP pool threads spin after every parallel region by default, burning
    # the cores the event loop and other queues need; on a server they should sleep.
    # (onnxruntime's spinning is turned off per session in runtime/backends/_onnx.py.)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "check-aof":
        from .check_aof import main as check_aof

        return check_aof(args[1:])
    if args and args[0] == "ping":
        from .healthcheck import main as ping

        return ping(args[1:])
    if args and args[0] in ("-v", "--version"):
        print(f"tensorserve v={__version__}")
        return 0
    if args and args[0] in ("-h", "--help"):
        print(_USAGE + " ".join(sorted(PARAMS)))
        return 0
    try:
        config, config_file = parse_args(args)
    except (ConfigError, OSError) as e:
        print(f"*** FATAL CONFIG ERROR *** {e}", file=sys.stderr)
        return 1
    from .server._process import daemonize, pidfile_path

    # Relative to --dir, as redis-server (which is in --dir by the time it writes it).
    pidfile = pidfile_path(config)
    if pidfile:
        pidfile = os.path.abspath(os.path.join(config.dir or ".", pidfile))
    if config.daemonize:
        daemonize()
    logs.setup(config.loglevel, config.logfile, config.log_format)
    try:
        os.chdir(config.dir or ".")  # as redis-server: the data directory must be usable
    except OSError as e:
        print(f"*** FATAL CONFIG ERROR *** can't chdir to '{config.dir}': {e}",
              file=sys.stderr)
        return 1
    # Data files are found by absolute path from here on (CONFIG GET dir shows it, as
    # redis-server's getcwd()); the process itself works in an empty private directory.
    config = dataclasses.replace(config, dir=os.getcwd())
    from .server import run  # imported late: --help and --version stay instant
    from .server._process import private_workdir

    with private_workdir():
        return run(config, config_file, pidfile)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
