"""Row codec v1 (reference §4): ``layout`` (a schema's offsets and widths), ``codec`` (decoding
one row: the reference implementation), ``kernels`` (numpy pieces of the batch decoder), ``batch``
(a batch of rows into Arrow, vectorised) and ``encode`` (rows as a tablet writes them)."""
