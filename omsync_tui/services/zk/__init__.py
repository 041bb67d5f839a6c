"""omsync's ZooKeeper boundary (kazoo): every service reaches ZooKeeper through this package.

- ``errors``: ``zk_errors``, kazoo's exceptions as omsync errors, and ``CONNECT_HINT``.
- ``reads``: what omsync reads of an OpenMLDB cluster (tables, tablets, collectors); the znode
  layout itself is ``openmldb/zkpaths``.
- ``worker``: ``ZkWorker``, the session, ephemeral node and lock queue the collector's
  ``Registration`` and the synctool's ``Membership`` are built on (``Ended``, ``ignore``).
"""
