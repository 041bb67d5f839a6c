"""What omsync does, above OpenMLDB's formats and the rpc layer, below the CLI and the TUI.

- ``collector/``: the daemon on each tablet host (reads the tablet's files, sends SendData).
- ``synctool/``: the daemon that leads, assigns subtasks and writes the offline files.
- ``sinks/``: destinations (local, S3, HDFS), the file writer, read-back and the CSV format.
- ``zk/``: the ZooKeeper boundary (error translation, the worker thread, cluster reads).
- ``cluster``: the one facade the CLI and the TUI use; ``inspect``: what ``omsync inspect`` shows;
  ``syncwire``: SyncPoints on the wire; ``paths``: default directories; ``signals``: running a
  daemon in the foreground.
"""
