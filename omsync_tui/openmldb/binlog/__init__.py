"""A partition's binlog (reference §3): ``files`` (file names and first log indexes, the file
holding a start point, offsets, the results of a read) and ``reader`` (``BinlogReader``:
LogEntries from a point on across files, gaps and damage reported)."""
