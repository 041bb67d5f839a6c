"""The synctool: OpenMLDB's SyncTool re-implemented; any number run, ZooKeeper elects the leader.

- ``daemon``: the process (config → rpc server → membership → task manager); ``membership``: its
  registration and the election; ``syncpaths``: where its state lives in ZooKeeper.
- ``manager``: the tasks (views on every synctool; create, delete, retry on the leader; SendData
  to the worker); ``newtask``: what a new task is made of (start points, ``_omsync/table.json``);
  ``leader/``: the leader's schedule, subtasks to collectors and workers, and the watch loop that
  keeps them placed; ``worker``: the subtasks this synctool holds, and the report it publishes;
  ``ingest``: one partition's SendData path (check, decode, append, commit).
- ``store``: task and subtask records in ZooKeeper (``model``: their dataclasses), guarded by the
  state machine; ``journal``: the event journal the store holds.
- ``api``: OpenMLDB's ``SyncTool`` service and ``/api/v1``; ``wire``: the /api/v1 documents;
  ``destapi``: what a destination already holds; ``heads``: where the tablets stand now (for
  ``task wait``).
"""
