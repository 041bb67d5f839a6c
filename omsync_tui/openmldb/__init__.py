"""OpenMLDB's formats and cluster layout, byte for byte (reference: ``openmldb-formats.md``).

One subpackage per concept:

- ``log/``: LevelDB-style log framing of binlogs and memory snapshots (blocks, records, CRCs,
  the damage rule) and the compressed (zlib/snappy) framing beside it.
- ``binlog/``: a partition's binlog files (names, the start file for an offset) and the reader
  that yields their entries from a point.
- ``entries/``: ``LogEntry`` columns of a whole batch, through a vectorised protobuf walk.
- ``snapshot/``: memory (``.sdb``) and disk (RocksDB) snapshots.
- ``row/``: row codec v1 — layout, scalar decode (the reference), numpy kernels, the batch decoder
  into Arrow, and the encoder the sandbox writes with.

Small modules shared by those live here: ``schema`` (columns and versions), ``metadata``
(MANIFEST, ``table_meta.txt``, TableInfo), ``hashing`` (partition of a key), ``zkpaths`` (the
cluster's ZooKeeper layout), ``spans`` (byte-span helpers) and ``proto/`` (the messages).
"""
