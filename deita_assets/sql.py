"""Load SQL statements kept one per file in `sql/`; values always travel as parameters."""

from functools import cache

from deita_assets.paths import sql_dir


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
