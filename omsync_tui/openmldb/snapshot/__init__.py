"""Snapshots of a partition: ``memory`` (``.sdb`` files of LogEntries, optionally compressed),
``disk`` (a RocksDB checkpoint read with OpenMLDB's ``KeyTSComparator``) and ``diskkeys`` (its
key format and comparator)."""
