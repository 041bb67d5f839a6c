"""A simulated OpenMLDB cluster on loopback: real ZooKeeper znodes, real tablet files, RPC answers.

``cluster.py`` lays tables and partitions out in ZooKeeper, ``partition.py`` and ``rocks_writer.py``
write one replica's files as a tablet leaves them (``datagen.py`` the rows, ``truth.py`` what a
sync must produce, ``state.py`` the sandbox's own records), ``responder.py`` answers the RPCs
OpenMLDB's SDK makes, ``receiver*.py`` is a stand-in SyncTool for the collector's tests, and
``jvm/`` runs the Java programs (ZooKeeper, a MiniDFSCluster, OpenMLDB's SDK probe).
"""
