"""Load SQL statements kept one per file in `sql/`; values always travel as parameters."""

import operator
import re
from functools import cache

from deita_assets.storage.paths import sql_dir


@cache
def load_sql(name: str) -> str:
    """Text of `sql/<name>.sql`."""
    path = sql_dir() / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL statement named {name!r} (looked for {path})")
    return path.read_text(encoding="utf-8")


def schema_statements() -> list[tuple[str, str]]:
    """Every `create_*.sql` in name order: the whole schema, each statement idempotent."""
    return [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(sql_dir().glob("create_*.sql"))]


MAX_VECTOR_DIM = 65_536


def load_sql_for_dim(name: str, dim: int) -> str:
    """Text of the template `sql/<name>.sql` with `{dim}` (a vector width) filled in.

    Why a template at all: DuckDB's fixed-width `FLOAT[d]` needs d in the DDL and a table name cannot
    be a parameter, so vectors live in one table per width. The width is the only thing ever formatted
    into SQL, and only after checking it is a positive int; values still travel as `?` parameters.
    """
    return load_sql(name).replace("{dim}", str(vector_width(dim)))


def vectors_table(dim: int) -> str:
    """Name of the table holding FLOAT[dim] vectors (the width checked as for the templates)."""
    return f"pool_vectors_{vector_width(dim)}"


def vector_width(dim: int) -> int:
    """`dim` as a plain positive int, or an error: the only value ever formatted into SQL text."""
    if isinstance(dim, bool):
        raise TypeError("dim must be an int, not a bool")
    width = operator.index(dim)  # ints (incl. numpy ints) only: no str / float reaches the SQL text
    if not 0 < width <= MAX_VECTOR_DIM:
        raise ValueError(f"vector width must be in 1..{MAX_VECTOR_DIM}, got {width}")
    return width


_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")


def identifier(name: str) -> str:
    """A table or group name from code (lower-case letters, digits, `_`), or an error: the only other
    thing ever formatted into SQL text or a store path."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a table identifier: {name!r}")
    return name


def load_sql_for_table(name: str, table: str) -> str:
    """Text of the template `sql/<name>.sql` with `{table}` (a checked identifier) filled in."""
    return load_sql(name).replace("{table}", identifier(table))
