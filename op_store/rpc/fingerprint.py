"""The fingerprint of an RPC call: what a retry under the same operation id must repeat.

One call can arrive spelled several ways: postcard with overlong varints (postcard's decoders
accept excess encoding bytes, so ours does too), canonical postcard, or JSON. The fingerprint hashes
the decoded arguments re-encoded canonically, never the bytes received, so every spelling of the
same arguments is the same call and only different arguments (or another method) conflict.
"""

from __future__ import annotations

from typing import Any

import blake3

from op_store.vox import Codec

FINGERPRINT_VERSION = b"op-store-rpc-v1"
"""Bumped if the fingerprint's inputs ever change, so old and new fingerprints never collide."""


def canonical_arguments(args: tuple[Any, ...], args_codec: Codec) -> bytes:
    """The canonical postcard bytes of a decoded argument tuple (minimal varints, no trailing bytes)."""
    return args_codec.encode(args)


def call_fingerprint(method_id: int, args: tuple[Any, ...], args_codec: Codec) -> bytes:
    """BLAKE3(version, method id LE, BLAKE3(canonical argument bytes)).

    For a call that arrived as canonical postcard this equals the fingerprint of its raw bytes, so
    operations admitted before fingerprints were canonicalized still match their retries.
    """
    args_digest = blake3.blake3(canonical_arguments(args, args_codec)).digest()
    return blake3.blake3(FINGERPRINT_VERSION + method_id.to_bytes(8, "little") + args_digest).digest()
