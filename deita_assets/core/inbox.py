"""The inbox: how files get there (copy, or bundle a folder of many small files) and how new ones are found.

Why bundling: ShareGPT sample folders hold one conversation per file and Self-Instruct's T0 data has
294 per-template files; one shard per file would mean a thousand runs. A folder with at least
`bundle_min_files` data files directly inside becomes ONE JSONL shard: JSONL lines are copied
verbatim, a JSON file's array elements or single object become one line each (the same JSON values,
compacted). A file that cannot be parsed is never bundled (that would hide it): it is copied on its
own so its records reach quarantine with reasons.

Inbox names are `<source>__<relative path flattened>`; the source is the first folder under the path
the user gave (for ../shared/data: alpaca, gpteacher, …) or that folder's own name for files directly
inside it. Evaluation sets (a folder named `eval`) are not pool data and are skipped.

Links rule: symbolic links are refused everywhere — a link given on the command line, a linked file
or folder inside a source folder (skipped with the reason `LINK_REFUSED`, printed by `ingest`), and a
link placed in the inbox by hand (never a shard: `is_data_file` is false for links, and reading one
raises). A link can point anywhere (/etc/passwd, another user's data), and resolving it against
allowed roots would make what a shard contains depend on where it points at read time.

`--source` names become inbox file-name prefixes, so they are checked like partition keys
(`check_source_name`): no path separators, no `..`, no leading dot or dash, no `__`.
"""

import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deita_assets.core.ingest import DATA_SUFFIXES, file_digest, is_data_file, shard_key, split_lines

DEFAULT_BUNDLE_MIN_FILES = 10
LINK_REFUSED = "symbolic link: refused (links can point outside the data; copy the target instead)"
_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_source_name(name: str) -> str:
    """`name` if it is a safe source name (it prefixes inbox file names), else ValueError saying why."""
    if not _SOURCE_NAME.fullmatch(name) or "__" in name or ".." in name:
        raise ValueError(
            f"invalid source name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit, without '..' or '__' (it becomes part of a file name in the inbox)"
        )
    return name


SKIPPED_FOLDERS = {"eval": "evaluation sets (MT-Bench, Arena-Hard, WizardLM test set) are not pool data"}
BUNDLE_SUFFIX = ".bundle.jsonl"


@dataclass
class InboxPlan:
    copies: list[tuple[Path, str]] = field(default_factory=list)  # (file, inbox name)
    bundles: list[tuple[list[Path], str]] = field(default_factory=list)  # (files, inbox name)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, why)


def _flatten(parts: Iterable[str]) -> str:
    return "_".join(p.replace("__", "_") for p in parts if p)


def plan_inbox(
    paths: Iterable[Path],
    *,
    bundle: bool = True,
    bundle_min_files: int = DEFAULT_BUNDLE_MIN_FILES,
    source: str | None = None,
) -> InboxPlan:
    """Decide, without touching anything, which files are copied, bundled or skipped (links too)."""
    if source is not None:
        check_source_name(source)
    plan = InboxPlan()
    for path in paths:
        if Path(path).is_symlink():
            plan.skipped.append((Path(path).absolute(), LINK_REFUSED))
            continue
        path = Path(path).resolve()
        if path.is_file():
            if not is_data_file(path):
                plan.skipped.append((path, f"not a data file ({', '.join(DATA_SUFFIXES)})"))
            elif "__" in path.name and source is None:
                plan.copies.append((path, path.name))
            else:
                plan.copies.append((path, f"{source or path.parent.name}__{path.name}"))
        elif path.is_dir():
            _plan_folder(path, plan, bundle, bundle_min_files, source)
        else:
            plan.skipped.append((path, "does not exist"))
    return plan


def _plan_folder(
    root: Path, plan: InboxPlan, bundle: bool, bundle_min_files: int, source: str | None
) -> None:
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        for name in sorted(subfolders):
            if (here / name).is_symlink():
                plan.skipped.append((here / name, LINK_REFUSED))
            elif name in SKIPPED_FOLDERS or name.startswith("."):
                plan.skipped.append((here / name, SKIPPED_FOLDERS.get(name, "hidden folder")))
        subfolders[:] = sorted(
            s
            for s in subfolders
            if s not in SKIPPED_FOLDERS and not s.startswith(".") and not (here / s).is_symlink()
        )
        relative = here.relative_to(root).parts
        folder_source = source or (relative[0] if relative else root.name)
        inner = relative[1:] if relative and not source else relative
        links = [here / f for f in sorted(files) if (here / f).is_symlink()]
        plan.skipped += [(link, LINK_REFUSED) for link in links]
        data = [here / f for f in sorted(files) if is_data_file(here / f)]
        plan.skipped += [
            (here / f, "not a data file")
            for f in sorted(files)
            if not is_data_file(here / f) and here / f not in links
        ]
        bundleable = [p for p in data if p.name.lower().endswith((".json", ".jsonl", ".ndjson"))]
        if bundle and len(bundleable) >= bundle_min_files:
            name = _flatten(inner) or here.name
            plan.bundles.append((bundleable, f"{folder_source}__{name}{BUNDLE_SUFFIX}"))
            data = [p for p in data if p not in bundleable]
        for path in data:
            plan.copies.append((path, f"{folder_source}__{_flatten([*inner, path.name])}"))


def _bundle_lines(path: Path) -> list[str] | None:
    """The JSONL lines a file contributes to a bundle, or None if it must stay a file of its own."""
    try:
        text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
    except (OSError, UnicodeDecodeError):
        return None
    if path.name.lower().endswith((".jsonl", ".ndjson")):
        return [line for line in split_lines(text) if line.strip(" \t")]  # same blank rule as ingest
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    values = value if isinstance(value, list) else [value]
    return [json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in values]


def _atomic_write(target: Path, write) -> None:
    """Write to a hidden temp name, then rename: the sensor never sees a half-written file."""
    temp = target.with_name(f".{target.name}.partial")
    write(temp)
    os.replace(temp, target)


@dataclass
class InboxReport:
    written: list[tuple[str, int]] = field(default_factory=list)  # (inbox name, files in it)
    unchanged: list[str] = field(default_factory=list)
    unbundled: list[Path] = field(default_factory=list)


def copy_into_inbox(plan: InboxPlan, inbox: Path) -> InboxReport:
    """Copy and bundle into the inbox; identical existing files are left alone (no new shard)."""
    inbox.mkdir(parents=True, exist_ok=True)
    report = InboxReport()
    copies = list(plan.copies)
    for files, name in plan.bundles:
        lines: list[str] = []
        included = 0
        for path in files:
            contributed = _bundle_lines(path)
            if contributed is None:
                report.unbundled.append(path)
                copies.append((path, f"{name.removesuffix(BUNDLE_SUFFIX)}_{path.name}"))
                continue
            lines += contributed
            included += 1
        payload = "".join(f"{line}\n" for line in lines).encode("utf-8")
        target = inbox / name
        if target.is_file() and target.read_bytes() == payload:
            report.unchanged.append(name)
            continue
        _atomic_write(target, lambda temp, data=payload: temp.write_bytes(data))
        report.written.append((name, included))
    for path, name in copies:
        target = inbox / name
        if target.is_file() and file_digest(target) == file_digest(path):
            report.unchanged.append(name)
            continue
        _atomic_write(target, lambda temp, src=path: shutil.copyfile(src, temp))
        report.written.append((name, 1))
    return report


def scan_inbox(
    inbox: Path,
    cursor: Mapping[str, list],
    known_keys: set[str],
    *,
    settle_seconds: float,
    now: float,
) -> tuple[list[tuple[str, Path]], dict[str, list]]:
    """New shards in the inbox and the next cursor.

    The cursor maps file name -> [size, mtime_ns, shard key]; only files that are new or whose
    size/mtime changed are hashed. A file modified less than `settle_seconds` ago may still be being
    written and waits for a later tick. A key already known (partition exists) is never requested
    again, so a lost cursor re-hashes but adds nothing twice.
    """
    new: list[tuple[str, Path]] = []
    next_cursor: dict[str, list] = {}
    known = set(known_keys)
    if not inbox.is_dir():
        return new, next_cursor
    for path in sorted(inbox.iterdir()):
        if not is_data_file(path):
            continue
        stat = path.stat()
        if now - stat.st_mtime < settle_seconds:
            if path.name in cursor:
                next_cursor[path.name] = list(cursor[path.name])
            continue
        entry = cursor.get(path.name)
        if entry and entry[0] == stat.st_size and entry[1] == stat.st_mtime_ns:
            next_cursor[path.name] = list(entry)
            continue
        key = shard_key(path.name, file_digest(path))
        next_cursor[path.name] = [stat.st_size, stat.st_mtime_ns, key]
        if key not in known:
            known.add(key)
            new.append((key, path))
    return new, next_cursor
