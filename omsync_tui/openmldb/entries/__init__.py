"""``LogEntry`` messages of a whole batch at once: ``scan`` gives their columns (log index, ts,
dimensions, value spans) from payload spans; ``pbwalk`` is the numpy protobuf field walker;
``messages`` parses the payload spans into protobuf objects in one call."""
