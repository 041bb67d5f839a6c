"""The Java programs the sandbox runs on loopback, each started with plain ``java``.

- ``jvmserver.py``: ``JvmServer``, what a JVM server owned by one directory has (log, pid, stop).
- ``zkserver.py``: ``ZkServer``, a throwaway standalone ZooKeeper (Debian's jars).
- ``hdfs.py``: ``HdfsServer``, a MiniDFSCluster (``minihdfs/MiniHdfs.java``) and its fault commands.
- ``hdfsbuild.py``: building a small Java main once (Maven resolves its pom's classpath, javac
  compiles it; cached per source hash): MiniHdfs and the SDK probe.
- ``openmldbsdk.py``: OpenMLDB's released Java SDK (``openmldbsdk/SdkList.java``) run against a
  cluster, the check that the sandbox is real enough for OpenMLDB's own code.
"""
