"""Summarise a py-spy `--format raw` profile (collapsed stacks): top functions by own and total time.

`python -m bench.profile_report PROFILE.txt [--top 25] [--thread SUBSTRING]`

Each line of a raw profile is `frame;frame;...;frame COUNT`, outermost first; a frame reads
`function (file:line)`. Own time is where a sample's innermost frame is; total time counts a
function once per sample it appears anywhere in.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path
from typing import Any

_LINE = re.compile(r"^(.*) (\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['func']} ({file})"


def summarise(path: Path, top: int = 25, thread: str | None = None) -> dict[str, Any]:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for raw in path.read_text().splitlines():
        match = _LINE.match(raw)
        if not match:
            continue
        stack, count = match[1], int(match[2])
        if thread and thread not in stack:
            continue
        frames = [_name(f) for f in stack.split(";") if f]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    return {
        "samples": samples,
        "own": [(n, round(100 * c / samples, 1)) for n, c in own.most_common(top)] if samples else [],
        "total": [(n, round(100 * c / samples, 1)) for n, c in total.most_common(top)] if samples else [],
    }


def render(summary: dict[str, Any]) -> str:
    lines = [f"samples: {summary['samples']}", "", "own time %:"]
    lines += [f"  {pct:5.1f}  {name}" for name, pct in summary["own"]]
    lines += ["", "total (inclusive) time %:"]
    lines += [f"  {pct:5.1f}  {name}" for name, pct in summary["total"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", default=None, help="only stacks containing this text")
    args = parser.parse_args()
    print(render(summarise(args.profile, args.top, args.thread)))


if __name__ == "__main__":
    main()
