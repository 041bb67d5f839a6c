"""``omsync inspect``: dump binlogs, snapshots and rows of an OpenMLDB tablet, like mysqlbinlog.

Exit codes: 0 all records read; 3 a damaged record or row (named by file, byte offset and
log_index), also when ``--skip-bad`` skipped some; 2 bad options; 4 a missing file.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from omsync_tui.core.errors import FormatError, NotFoundError, UsageError

if TYPE_CHECKING:
    from omsync_tui.services.inspect import Record, SchemaSource, Summary

app = typer.Typer(help="Dump binlogs, snapshots and rows (like mysqlbinlog).", no_args_is_help=True)


class Output(StrEnum):
    text = "text"
    jsonl = "jsonl"


SchemaOpt = Annotated[
    Path | None, typer.Option("--schema", help='JSON columns: [{"name":"c1","type":"int"}]')
]
TableInfoOpt = Annotated[Path | None, typer.Option("--table-info", help="binary nameserver TableInfo")]
TableMetaOpt = Annotated[Path | None, typer.Option("--table-meta", help="text TableMeta (table_meta.txt)")]
OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="text or jsonl")]
SkipBadOpt = Annotated[bool, typer.Option("--skip-bad", help="report bad records and go on (exit 3 if any)")]
NoCrcOpt = Annotated[bool, typer.Option("--no-verify-crc", help="do not check record CRCs")]


def _print(records: Iterator[tuple[str, int, Record]], output: Output) -> None:
    from omsync_tui.services.inspect import text_line

    write = sys.stdout.write
    for file, offset, record in records:
        if output is Output.jsonl:
            write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            write(text_line(file, offset, record) + "\n")


def _finish(summary: Summary, output: Output) -> None:
    sys.stdout.flush()
    if summary.open_tail is not None and output is Output.text:
        file, offset, unread = summary.open_tail
        print(f"open file: {unread} bytes after offset {offset} not yet complete ({file})")
    for err in summary.skipped:
        print(f"skipped: {err.message}", file=sys.stderr)
    if summary.skipped:
        print(
            f"skipped {len(summary.skipped)} bad record(s) of {summary.records + len(summary.skipped)}",
            file=sys.stderr,
        )
        raise typer.Exit(FormatError.exit_code)


def _source(
    schema: Path | None, table_info: Path | None, table_meta: Path | None, partition_dir: Path | None
) -> SchemaSource:
    from omsync_tui.services.inspect import load_schema

    default = partition_dir / "table_meta.txt" if partition_dir is not None else None
    source = load_schema(
        schema_file=schema, table_info_file=table_info, table_meta_file=table_meta, default_table_meta=default
    )
    return dataclasses.replace(source, on_note=lambda text: print(text, file=sys.stderr))


@app.command()
def binlog(
    path: Annotated[Path, typer.Argument(help="a NNNNNNNN.log file or a binlog directory")],
    schema: SchemaOpt = None,
    table_info: TableInfoOpt = None,
    table_meta: TableMetaOpt = None,
    start: Annotated[int, typer.Option("--from", help="first log_index to show (binlog offset)")] = 0,
    output: OutputOpt = Output.text,
    skip_bad: SkipBadOpt = False,
    no_verify_crc: NoCrcOpt = False,
) -> None:
    """Decode binlog entries (puts and deletes) with the table's schema."""
    from omsync_tui.services.inspect import Summary, iter_binlog

    if start < 0:
        raise UsageError("--from must be ≥ 0")
    if not path.exists():
        raise NotFoundError(f"{path} does not exist", hint="pass a NNNNNNNN.log file or a binlog directory")
    part = path.parent if path.is_dir() else path.parent.parent
    source = _source(schema, table_info, table_meta, part)
    summary = Summary()
    _print(
        iter_binlog(path, source, summary, start=start, verify_crc=not no_verify_crc, skip_bad=skip_bad),
        output,
    )
    _finish(summary, output)


@app.command()
def snapshot(
    path: Annotated[
        Path,
        typer.Argument(
            help="a .sdb[.zlib|.snappy] file, a RocksDB checkpoint dir, "
            "or the snapshot/ dir (its MANIFEST picks the snapshot)"
        ),
    ],
    schema: SchemaOpt = None,
    table_info: TableInfoOpt = None,
    table_meta: TableMetaOpt = None,
    output: OutputOpt = Output.text,
    skip_bad: SkipBadOpt = False,
    no_verify_crc: NoCrcOpt = False,
) -> None:
    """Decode a memory (.sdb) or disk (RocksDB, index 0) snapshot."""
    from omsync_tui.services.inspect import (
        Summary,
        describe_snapshot,
        iter_disk_snapshot,
        iter_memory_snapshot,
    )

    kind, resolved, part = describe_snapshot(path)
    source = _source(schema, table_info, table_meta, part)
    summary = Summary()
    if kind == "memory":
        records = iter_memory_snapshot(
            resolved, source, summary, verify_crc=not no_verify_crc, skip_bad=skip_bad
        )
    else:
        records = iter_disk_snapshot(resolved, source, summary, skip_bad=skip_bad)
    _print(records, output)
    _finish(summary, output)


@app.command()
def row(
    hexrows: Annotated[
        list[str] | None, typer.Argument(help="hex-encoded rows, or - to read lines from stdin")
    ] = None,
    schema: SchemaOpt = None,
    table_info: TableInfoOpt = None,
    table_meta: TableMetaOpt = None,
) -> None:
    """Decode hex-encoded rows; prints one JSON array per row."""
    from omsync_tui.core.errors import RowDecodeError
    from omsync_tui.services.inspect import RowDecoder, json_values

    if schema is None and table_info is None and table_meta is None:
        raise UsageError("inspect row needs --schema, --table-info or --table-meta")
    decode = RowDecoder(_source(schema, table_info, table_meta, None))
    items = hexrows or []
    lines = (line.strip() for line in sys.stdin) if items == ["-"] else iter(items)
    for n, text in enumerate(lines, start=1):
        if not text:
            continue
        try:
            data = bytes.fromhex(text)
        except ValueError:
            raise UsageError(f"row #{n} is not hex: {text[:40]!r}") from None
        try:
            values = decode(data)
        except RowDecodeError as exc:
            raise RowDecodeError(f"row #{n}: {exc.reason}", hint=exc.hint) from None
        print(json.dumps(json_values(values), ensure_ascii=False))
