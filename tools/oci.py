#!/usr/bin/env python3
"""Packages Wasm modules as OCI images in Istio's Wasm image format, no Docker.

`make oci` calls it as `oci.py --out DIR WASM...`. For each module
`meshwasm_<name>.wasm` it writes an OCI image layout at `DIR/<name>/`
(`_` in the name becomes `-`: `meshwasm_rate_limit.wasm` -> `DIR/rate-limit/`)
holding one image, tagged with the workspace version (`--tag` overrides).

The image is the "compat" variant of the Wasm image spec that Istio's
`WasmPlugin` pulls (istio `pkg/wasm/imagefetcher.go`): standard OCI media
types, exactly one `application/vnd.oci.image.layer.v1.tar+gzip` layer, and
in it a file named `plugin.wasm` with the module's bytes. The manifest
carries the spec's `module.wasm.image/variant: compat` annotation.

Output is reproducible: the same module gives byte-identical blobs (fixed tar
header fields, gzip mtime 0, sorted JSON keys), so the manifest digest only
changes when the module (or the tag-independent format) does. An existing
layout at `DIR/<name>/` is replaced. One line per image goes to stdout: the
layout's path and the manifest digest.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tarfile
import tomllib
from pathlib import Path

INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
VARIANT_ANNOTATION = "module.wasm.image/variant"
# The file name Istio looks for in the compat variant's layer.
PLUGIN_FILE = "plugin.wasm"
WASM_MAGIC = b"\0asm"
# An OCI tag (distribution spec): what `<layout>:<tag>` resolves against.
TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
NAME_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
WORKSPACE_MANIFEST = Path(__file__).resolve().parent.parent / "Cargo.toml"


class UsageError(Exception):
    """Bad input: reported as one line on stderr, exit status 1."""


def canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes) -> dict:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}


def layer_tar(wasm: bytes) -> bytes:
    """A tar holding only `plugin.wasm`, with fixed header fields."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(PLUGIN_FILE)
        info.type = tarfile.REGTYPE
        info.size = len(wasm)
        info.mode = 0o644
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(wasm))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """gzip with no file name and mtime 0 in its header."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def image_name(module: Path) -> str:
    stem = module.name.removesuffix(".wasm")
    name = stem.removeprefix("meshwasm_").replace("_", "-")
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"{module}: cannot name an image after it "
            "(expected meshwasm_<name>.wasm, <name> in lowercase letters, digits and _)"
        )
    return name


def read_module(module: Path) -> bytes:
    try:
        data = module.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{module}: no such file (build the modules first: make build)") from None
    except IsADirectoryError:
        raise UsageError(f"{module}: is a directory, not a Wasm module") from None
    except OSError as e:
        raise UsageError(f"{module}: cannot read it: {e.strerror}") from None
    # Istio refuses a fetched binary shorter than the 8-byte header or
    # without the magic number; refuse it here instead.
    if len(data) < 8 or not data.startswith(WASM_MAGIC):
        raise UsageError(f"{module}: not a Wasm module (it does not start with the \\0asm magic number)")
    return data


def workspace_version() -> str:
    try:
        with WORKSPACE_MANIFEST.open("rb") as f:
            return tomllib.load(f)["workspace"]["package"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"cannot read the workspace version from {WORKSPACE_MANIFEST} ({e}); pass --tag") from None


def build_image(wasm: bytes, tag: str) -> tuple[dict[str, bytes], bytes]:
    """The layout's files (path -> bytes) and the manifest."""
    tar = layer_tar(wasm)
    layer = gzip_bytes(tar)
    config = canonical_json(
        {
            # GOARCH/GOOS-style platform of a wasm32-wasip1 module.
            "architecture": "wasm",
            "os": "wasip1",
            "rootfs": {"type": "layers", "diff_ids": [digest_of(tar)]},
        }
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": descriptor(CONFIG_MEDIA_TYPE, config),
            "layers": [descriptor(LAYER_MEDIA_TYPE, layer)],
            "annotations": {VARIANT_ANNOTATION: "compat"},
        }
    )
    manifest_descriptor = descriptor(MANIFEST_MEDIA_TYPE, manifest)
    manifest_descriptor["annotations"] = {REF_NAME: tag}
    index = canonical_json(
        {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [manifest_descriptor]}
    )
    files = {
        "oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}),
        "index.json": index,
    }
    for blob in (layer, config, manifest):
        files["blobs/sha256/" + hashlib.sha256(blob).hexdigest()] = blob
    return files, manifest


def write_layout(layout: Path, files: dict[str, bytes]) -> None:
    """Writes the layout next to its place, then swaps it in."""
    if layout.exists() and not (layout / "oci-layout").is_file():
        raise UsageError(f"{layout}: exists and is not an OCI image layout; not replacing it")
    staging = layout.with_name(f".{layout.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for rel, data in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if layout.exists():
            shutil.rmtree(layout)
        staging.rename(layout)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="oci.py",
        description="Package Wasm modules as OCI image layouts in Istio's Wasm image format (compat variant).",
    )
    parser.add_argument("--out", required=True, type=Path, help="directory to write DIR/<name>/ layouts under")
    parser.add_argument("--tag", help="the image's tag (default: the workspace version in Cargo.toml)")
    parser.add_argument("modules", nargs="+", type=Path, metavar="WASM", help="meshwasm_<name>.wasm modules")
    args = parser.parse_args(argv)

    try:
        tag = args.tag if args.tag is not None else workspace_version()
        if not TAG_PATTERN.fullmatch(tag):
            raise UsageError(f"{tag!r} is not a valid OCI tag")
        # Check every input before writing anything.
        images: dict[str, bytes] = {}
        for module in args.modules:
            name = image_name(module)
            if name in images:
                raise UsageError(f"{module}: a second module for the image {name!r}")
            images[name] = read_module(module)
        for name, wasm in images.items():
            files, manifest = build_image(wasm, tag)
            layout = args.out / name
            try:
                layout.parent.mkdir(parents=True, exist_ok=True)
                write_layout(layout, files)
            except OSError as e:
                raise UsageError(f"{layout}: cannot write the layout: {e}") from None
            print(f"{layout}  {digest_of(manifest)}")
    except UsageError as e:
        print(f"oci.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
