#!/usr/bin/env python3
"""What a Wasm module's code is made of, by crate.

    make size-profile                  # auth and the chain
    tools/wasm-sizes.py MODULE.wasm    # any module built with its names

Reads the module's code section and its `name` section (function names,
which `make build` strips: `make size-profile` builds the modules again
without stripping, in `target/size-profile`) and prints the bytes of code
per crate, the crate being the first path segment of each function's
mangled name (`<p384::...>` counts as `p384`; serde's deserialisation code
counts apart), then the largest functions.
The sizes are before `wasm-opt`, which shrinks the whole by about a tenth.
"""

import collections
import re
import sys
from pathlib import Path


def leb128(data: bytes, at: int) -> tuple[int, int]:
    """An unsigned LEB128 number at `at`, and where it ends."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def functions(path: Path) -> list[tuple[int, str]]:
    """(code bytes, name) of each function the module defines."""
    data = path.read_bytes()
    at, imported, bodies, names = 8, 0, [], {}
    while at < len(data):
        section, at = data[at], at + 1
        size, at = leb128(data, at)
        start, end = at, at + size
        if section == 2:  # imports: functions among them come first in the index space
            count, at = leb128(data, at)
            for _ in range(count):
                for _field in range(2):
                    length, at = leb128(data, at)
                    at += length
                kind, at = data[at], at + 1
                if kind == 0:
                    _, at = leb128(data, at)
                    imported += 1
                elif kind in (1, 2):
                    if kind == 1:
                        at += 1
                    flags, at = data[at], at + 1
                    _, at = leb128(data, at)
                    if flags & 1:
                        _, at = leb128(data, at)
                else:
                    at += 2
        elif section == 10:  # code
            count, at = leb128(data, at)
            for index in range(count):
                body, at = leb128(data, at)
                bodies.append((imported + index, body))
                at += body
        elif section == 0:  # custom: the `name` section's function names
            length, at = leb128(data, at)
            if data[at : at + length] == b"name":
                at += length
                while at < end:
                    kind, at = data[at], at + 1
                    sub, at = leb128(data, at)
                    sub_end = at + sub
                    if kind == 1:
                        count, at = leb128(data, at)
                        for _ in range(count):
                            index, at = leb128(data, at)
                            length, at = leb128(data, at)
                            names[index] = data[at : at + length].decode("utf-8", "replace")
                            at += length
                    at = sub_end
        at = end
    if not names:
        sys.exit(f"{path}: no function names (build without stripping: `make size-profile`)")
    return [(body, names.get(index, f"function {index}")) for index, body in bodies]


def crate(name: str) -> str:
    """The crate a (legacy-mangled) function name starts in; serde's
    visitors and seeds, generic code instantiated for each type read (the
    configurations, JWKs, token headers and claims), count together."""
    if "$u20$as$u20$serde_core..de.." in name:
        return "(serde deserialisation, all types)"
    mangled = re.match(r"_ZN(\d+)", name)
    if not mangled:
        return name.split("::")[0]
    first = name[mangled.end() : mangled.end() + int(mangled.group(1))]
    if first.startswith("_$LT$"):  # <Type as Trait>::f: the type's crate
        inner = re.match(r"_\$LT\$([A-Za-z0-9_]+)\.\.", first)
        return inner.group(1) if inner else first
    return first


def main() -> None:
    for arg in sys.argv[1:]:
        found = functions(Path(arg))
        total = sum(size for size, _ in found)
        by_crate = collections.Counter()
        for size, name in found:
            by_crate[crate(name)] += size
        print(f"{arg}: {total:,} bytes of code in {len(found):,} functions (before wasm-opt)")
        for name, size in by_crate.most_common(15):
            print(f"  {size:>9,}  {100 * size / total:4.1f}%  {name}")
        print("  largest functions:")
        for size, name in sorted(found, reverse=True)[:8]:
            print(f"  {size:>9,}  {name[:110]}")


if __name__ == "__main__":
    main()
