"""The leader's side of the synctool: which collector sends a subtask to which synctool.

- ``schedule``: ``Schedule``, the tasks being placed (a ``Table`` each) and the leader's only
  writes to their records (a guarded compare-and-set; ``reconcile`` with the destination);
- ``assign``: ``Assigner``, one subtask's assignment and the watch loop that keeps every subtask
  placed (``tick``, ``rebalance``);
- ``peers``: ``Peers``, every call to another process: the partition leaders, the collector on
  each leader's host (probe, AddSyncTask), a worker synctool's release.

``manager.SyncManager`` holds one of each while this synctool leads.
"""
