"""LevelDB-style log framing (reference §3.3): 32 KiB blocks of ``[crc][len][type][payload]``.

- ``format``: the record layout, its constants and types, and the writer.
- ``assembler``: ``RecordAssembler``, fragments into logical records, and the damage rule.
- ``reader``: ``LogFileReader`` over a file a tablet may still append to, with its bulk paths.
- ``blob``: the blob path — runs of intact records as one protobuf-parsable buffer.
- ``framer``: the span path — runs of intact records as payload spans; ``frames`` its numpy
  kernels; ``crcbatch`` every record CRC of a buffer in one call.
- ``compressed``: the framing of compressed memory snapshots (zlib/snappy blocks).
"""
