"""``omsync tui`` (Textual): screens over the same ``services.cluster`` facade as the CLI.

- ``app``: wires the screens, keys and command palette to ``LiveApp``'s data and actions.
- ``data``: where the rows come from: thread workers calling ``services.cluster``.
- ``tasks``, ``subtasks``, ``collectors``, ``events``, ``synctools``: one screen each; ``common``
  what they share (status banner, in-place table updates, formatting); ``dialogs``: guarded
  delete, create form, key help.
"""
