"""The collector: one per tablet host, OpenMLDB's DataCollector re-implemented (reference §1.5).

- ``daemon``: the process (config → rpc server → ZooKeeper → task loops → clean stop);
  ``registration``: its presence in ZooKeeper (standby and takeover); ``status``: /status, /metrics.
- ``manager``: ``AddSyncTask``, recovery from the work dirs, the loops; ``scheduler``: the timer
  heap and worker pool that run them; ``task``: one partition's loop (pack, SendData, persist).
- ``workdir``: a partition's hard links and progress; ``packer``: the tablet's files into packs
  (``pack``: what a pack is); ``clients``: the connections SendData goes over; ``failures``: what
  a task tells the synctool when it cannot go on.
"""
