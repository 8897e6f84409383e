from deita_assets.core.report import counts_table, histogram_table, markdown_table


def test_markdown_table_escapes_and_truncates() -> None:
    table = markdown_table([{"a": "x|y\nz", "b": "w" * 50}], max_chars=10)
    assert table.splitlines()[2] == "| x\\|y z | wwwwwwwww… |"


def test_counts_table_orders_by_count() -> None:
    lines = counts_table({"b": 1, "a": 3}, key="source").splitlines()
    assert lines[2:] == ["| a | 3 |", "| b | 1 |"]


def test_histogram_counts_all_finite_values() -> None:
    table = histogram_table([1.0, 2.0, 2.0, float("nan")], bins=2)
    counts = [int(line.split("|")[2]) for line in table.splitlines()[2:]]
    assert counts == [1, 2]
