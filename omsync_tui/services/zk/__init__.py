"""omsync's ZooKeeper boundary (kazoo): every service reaches ZooKeeper through this package.

- ``errors``: ``zk_errors``, kazoo's exceptions as omsync errors, and ``CONNECT_HINT``.
- ``reads``: what omsync reads of an OpenMLDB cluster (tables, tablets, collectors); the znode
  layout itself is ``openmldb/zkpaths``.
- ``member``: ``ZkMember``, the session, ephemeral node, lock queue and worker thread that the
  collector's ``Registration`` and the synctool's ``Membership`` each hold (``Ended``, ``ignore``).
"""
