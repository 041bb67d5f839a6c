"""Iceberg tables as destinations (DESIGN §10; issue 17). Only ``table`` and ``catalog`` import
pyiceberg, and only ``writer.table_of`` loads them: every other destination runs without it.

- ``url``: ``iceberg://<namespace>.<table>?...`` parsed, without pyiceberg; secrets masked.
- ``writer``: ``IcebergWriter`` (a ``PartitionWriter``'s files, each committed to the table) and
  ``table_of``, which loads ``table`` (pyiceberg) for ``iceberg://`` only.
- ``table``: ``IcebergTable`` — the table made or checked, exactly-once commits recording ranges
  in snapshot summaries, ranges read back, compaction by one overwrite snapshot.
- ``catalog``: the pyiceberg catalog of a URI and ``OmsyncFileIO`` (HDFS through ``sinks.hdfs``,
  an S3 warehouse through omsync's S3 filesystem).
"""
