"""The ``omsync`` command line (typer): one module per sub-command, ``main`` wiring them.

- ``main``: the ``omsync`` app; omsync errors become exit codes and hints, never tracebacks.
- ``common``: what the commands share (exit codes, options, output, the synctool client, daemon
  start-up); the ``*_cmd`` modules import it and never each other.
- ``collector_cmd``, ``synctool_cmd``: run the daemons (``--check`` prints the resolved config).
- ``task_cmd``: ``omsync task ...`` for people and CI scripts (JSON output, exit codes);
  ``tui_cmd``: the TUI; both through ``services.cluster``.
- ``config_cmd``, ``doctor_cmd``, ``inspect_cmd``, ``sandbox_cmd``: settings and where each came
  from, preflight checks, decoding a tablet's files, the simulated cluster.
"""
