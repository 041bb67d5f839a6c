"""What every layer shares, on the standard library only (an import-linter contract keeps it so).

- ``errors``: the one error tree (exit codes, hints). ``states``: modes, formats, subtask states
  and the state machine the store enforces. ``syncpoint``: where a sync continues.
- The config loader: ``config`` (load once: flags > env > TOML > OpenMLDB files > defaults),
  ``configbase``, ``configsources``, ``configvalues``; the schemas ``collector_config``,
  ``synctool_config``, ``client_config``; OpenMLDB's own formats ``gflags`` and ``javaprops``.
- ``inthread``: one call in a thread of its own (slow closes off the critical path).
- ``desturi``: a destination as text (its scheme; a relative path refused by the synctool, made
  absolute by a client).
"""
