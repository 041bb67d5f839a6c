"""A partition's binlog (reference §3): ``files`` (file names and first log indexes, the file
holding a start point, offsets, parsing a blob of entries) and ``reader`` (``BinlogReader``:
LogEntries from a point on across files, gaps and damage reported)."""
