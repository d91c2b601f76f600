"""Reading columns of a parquet table stored as one file or as a folder of part files."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pixl.errors import CohortError


@dataclass(frozen=True)
class ParquetTable:
    """Selected columns as Python lists, and the file each row came from."""

    location: Path
    columns: dict[str, list[Any]]
    parts: list[tuple[Path, int]]

    def __len__(self) -> int:
        return sum(rows for _, rows in self.parts)

    @cached_property
    def _starts(self) -> list[int]:
        return [sum(rows for _, rows in self.parts[:i]) for i in range(len(self.parts))]

    def locate(self, index: int) -> tuple[str, int]:
        """The file holding row `index` (0-based, across parts) and its 1-based row there."""
        part = bisect_right(self._starts, index) - 1
        return str(self.parts[part][0]), index - self._starts[part] + 1


def find_table(base: Path, single_file: str, part_folder: str) -> Path:
    """The table's single parquet file if present, else its folder of `part-*.parquet` files."""
    file = base / single_file
    if file.exists():
        return file
    folder = base / part_folder
    if folder.is_dir():
        return folder
    raise CohortError(
        str(file), f"missing: expected this file or a folder {folder} of part-*.parquet files"
    )


def read_table(location: Path, columns: tuple[str, ...]) -> ParquetTable:
    """Read `columns` from a parquet file or a folder of parts (read in name order)."""
    if location.is_dir():
        files = sorted(location.glob("part-*.parquet"))
        if not files:
            raise CohortError(str(location), "folder holds no part-*.parquet files")
    else:
        files = [location]
    data: dict[str, list[Any]] = {name: [] for name in columns}
    parts: list[tuple[Path, int]] = []
    for file in files:
        table = _read_file(file, columns)
        for name in columns:
            data[name].extend(table.column(name).to_pylist())
        parts.append((file, table.num_rows))
    return ParquetTable(location=location, columns=data, parts=parts)


def _read_file(file: Path, columns: tuple[str, ...]) -> pa.Table:
    try:
        schema = pq.read_schema(file)
    except (pa.ArrowException, OSError) as error:
        raise CohortError(str(file), f"not a readable parquet file ({error})") from None
    for name in columns:
        if name not in schema.names:
            raise CohortError(
                str(file), f"missing column; found {', '.join(schema.names)}", column=name
            )
    try:
        return pq.read_table(file, columns=list(columns))
    except (pa.ArrowException, OSError) as error:
        raise CohortError(str(file), f"not a readable parquet file ({error})") from None
