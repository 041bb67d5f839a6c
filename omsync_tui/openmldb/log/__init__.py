"""LevelDB-style log framing (reference §3.3): 4 KiB blocks of ``[crc][len][type][payload]``.

- ``format``: the record layout, its constants and types, the outcomes, and the writer.
- ``assembler``: the damage rule (``judge_physical``: one physical record intact, not all there
  yet, or damaged) and ``RecordAssembler``, fragments into logical records over the
  ``PhysicalLayer`` it holds.
- ``reader``: ``LogFileReader`` over a file a tablet may still append to: it holds a
  ``source.LogFileSource`` (the file, the read buffer, the physical layer), a ``RecordAssembler``
  over it and a ``framer.SpanFramer`` (the one bulk path: runs of intact records as payload
  spans); ``frames`` holds the span path's numpy kernels, ``crcbatch`` every record CRC of a
  buffer in one call.
- ``compressed``: the framing of compressed memory snapshots (zlib/snappy blocks), read through a
  ``RecordAssembler`` as well.
"""
