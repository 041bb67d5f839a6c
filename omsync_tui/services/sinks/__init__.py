"""Where the synctool's rows land: pyarrow filesystems and range-named files, or an Iceberg table
(DESIGN §3, §8; issue 17).

- ``destination``: a destination opened from a URI (local, ``s3://``, ``hdfs://``/``viewfs://``),
  its errors translated, a bare path resolved to ``fs.defaultFS``, small files under ``_omsync/``.
- ``hdfs``: HDFS as a pyarrow filesystem over hdfs-native (no JVM), bounded, errors with fixes.
- ``writer``: file names from ranges, ``PartitionWriter`` (temporary → sealed → renamed),
  forwarded deletes.
- ``readback``: what a destination holds — committed ranges, leftover temporaries, the audit.
- ``csvformat``: CSV lines exactly as OpenMLDB's SyncTool renders them.
- ``iceberg/``: Iceberg tables as destinations (its own docstring says what lives where).
"""
