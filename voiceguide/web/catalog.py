"""What the page can choose from: routines (built-in and in the served folder), voices, beds.

Every list is the command line's own JSON (``routines --json``, ``voices``,
``ambience --json``), so one schema serves scripts, tests and the page.
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from pathlib import Path

from voiceguide.cli.ambience import bed_rows
from voiceguide.cli.routines import routine_row
from voiceguide.errors import RoutineError, VoiceguideError
from voiceguide.routine import Routine, builtin_ids, load_builtin, load_file

ROUTINE_SUFFIXES = (".yaml", ".yml")


class Catalog:
    """The routines a served folder offers, by the ``id`` the page renders them by.

    Built-in routines keep their ids; a file in the folder is known by its file
    name. Only these ids can be rendered: the page cannot name an arbitrary path.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._rows: dict[tuple[str, int, int], dict[str, object]] = {}  # by (name, mtime, size)

    def files(self) -> dict[str, Path]:
        """Routine files directly in the folder, by file name (read fresh: the user edits them)."""
        if not self.folder.is_dir():
            return {}
        found = sorted(p for p in self.folder.iterdir() if p.suffix in ROUTINE_SUFFIXES)
        return {p.name: p for p in found if p.is_file()}

    def routines(self) -> list[dict[str, object]]:
        """``routines --json`` plus the folder's files; a broken file shows its one-line error."""
        rows = [dict(row) for row in _builtin_rows()]
        for name, path in self.files().items():
            try:
                stat = path.stat()
            except OSError:
                continue
            key = (name, stat.st_mtime_ns, stat.st_size)
            if key not in self._rows:  # planning every routine takes a while: only on change
                try:
                    row = {**routine_row(name, load_file(path)), "source": str(path)}
                except VoiceguideError as err:
                    row = {"id": name, "title": name, "source": str(path), "error": str(err)}
                self._rows[key] = row
            rows.append(dict(self._rows[key]))
        return rows

    def load(self, routine_id: str) -> tuple[Routine, bytes]:
        """The routine to render and its source bytes (which go into the session's key)."""
        files = self.files()
        if routine_id in files:
            path = files[routine_id]
            return load_file(path), path.read_bytes()
        if routine_id in builtin_ids():
            from importlib import resources

            source = (resources.files("voiceguide.routines") / f"{routine_id}.yaml").read_bytes()
            return load_builtin(routine_id), source
        known = ", ".join([*builtin_ids(), *files])
        raise RoutineError(f"no routine {routine_id!r} here; routines: {known}")

    def spec(self, routine_id: str) -> str:
        """What ``voiceguide render`` takes for this id: the file's path or the built-in id."""
        files = self.files()
        return str(files[routine_id].resolve()) if routine_id in files else routine_id


@functools.cache
def _builtin_rows() -> tuple[dict[str, object], ...]:
    """``routines --json``: the built-in routines do not change while the server runs."""
    return tuple(
        {**routine_row(rid, load_builtin(rid)), "source": "built-in"} for rid in builtin_ids()
    )


def voice_rows() -> list[dict[str, object]]:
    """Every voice and variant, as ``voiceguide voices --variants`` lists them."""
    from voiceguide.speech import list_voices

    return [asdict(v) for v in list_voices(None, variants=True)]


def ambience_rows() -> list[dict[str, object]]:
    return bed_rows()
