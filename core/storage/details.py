"""request_details' bulky parts, packed: headers, query, bodies and server facts of a request as one JSON object,
compressed with zstd and a dictionary (`details.zdict`, shipped with the code).

A request's detail row is small (about 600 bytes of JSON) and says much the same as its neighbours: the same
header names, user agents, server block and body shapes. Compressed one by one, such rows shrink by a third;
with a dictionary of what they share, several times (README, Performance). Each row stays its own zstd frame,
so a request's details are read without its neighbours, and the frame names its dictionary (zstd's dictionary
id): a later dictionary can be shipped beside this one without rewriting stored rows.

Rows written before packing (migration 0007) keep their JSON columns; `unpacked` reads either kind. Errors and
threat reasons stay JSON columns: error groups query them in SQL.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import zstandard

from core.domain.masking import mask, mask_body

# The fields packed together, as NormalizedRequest and the legacy JSON columns name them.
PACKED_FIELDS = ("request_headers", "request_body", "query", "response_headers", "response_body", "server")
DICTIONARY_ID = 1
_DICTIONARY_FILE = Path(__file__).with_name("details.zdict")
LEVEL = 3  # zstd's default: ~1 µs a row here; higher levels gain a few bytes for several times the time


@cache
def _dictionaries() -> dict[int, zstandard.ZstdCompressionDict]:
    """Every shipped dictionary by its zstd id (one so far)."""
    data = zstandard.ZstdCompressionDict(_DICTIONARY_FILE.read_bytes())
    if data.dict_id() != DICTIONARY_ID:
        raise RuntimeError(f"{_DICTIONARY_FILE.name} has dictionary id {data.dict_id()}, not {DICTIONARY_ID}")
    return {DICTIONARY_ID: data}


_local = threading.local()  # a zstd (de)compressor serves one thread at a time: one of each per thread


def _compressor() -> zstandard.ZstdCompressor:
    made = getattr(_local, "compressor", None)
    if made is None:
        # With a checksum: a frame read with the wrong dictionary fails loudly instead of decoding to garbage.
        made = _local.compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=_dictionaries()[DICTIONARY_ID],
                                                            write_checksum=True)
    return made


def _decompressor(dict_id: int) -> zstandard.ZstdDecompressor:
    made = getattr(_local, "decompressors", None)
    if made is None:
        made = _local.decompressors = {}
    if dict_id not in made:
        if dict_id and dict_id not in _dictionaries():
            raise ValueError(f"packed details need zstd dictionary {dict_id}, which this version does not ship")
        made[dict_id] = zstandard.ZstdDecompressor(dict_data=_dictionaries()[dict_id]) if dict_id else zstandard.ZstdDecompressor()
    return made[dict_id]


# The first byte of a packed text says which JSON library wrote it, and so which one reads it back exactly:
# orjson for everything it can write; the json module for the rest (an integer over 64 bits, which orjson
# would read back as a float).
_ORJSON, _JSON = b"o", b"j"


def _json_bytes(values: dict) -> bytes:
    try:
        # Without OPT_NON_STR_KEYS first (a third faster): every key is a string once masked, and for those both
        # write the same bytes. orjson refuses any other key, which the second try then writes as before.
        return _ORJSON + orjson.dumps(values)
    except (TypeError, orjson.JSONEncodeError):
        pass
    try:
        return _ORJSON + orjson.dumps(values, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return _JSON + json.dumps(values).encode()


def pack(values: Mapping[str, Any]) -> bytes:
    """The packed form of these fields (each of PACKED_FIELDS; None where absent)."""
    return pack_in_order([values.get(name) for name in PACKED_FIELDS])


def pack_in_order(values: Sequence[Any]) -> bytes:
    """pack() of the values of PACKED_FIELDS, in that order: the writers' path, without a mapping to read back."""
    return _compressor().compress(_json_bytes(dict(zip(PACKED_FIELDS, values))))


def unpack(blob: bytes) -> dict[str, Any]:
    """pack()'s fields back, decoded."""
    text = _decompressor(zstandard.get_frame_parameters(blob).dict_id).decompress(blob)
    kind, body = text[:1], text[1:]
    if kind == _ORJSON:
        return orjson.loads(body)
    if kind == _JSON:
        return json.loads(body)
    raise ValueError(f"packed details of an unknown kind {kind!r}")


def unpacked_masked(row: Mapping[str, Any]) -> dict[str, Any]:
    """unpacked(row), masked again as read (core.domain.masking): what ingest masks now (a credential written into
    text, a name added to the secret names) is hidden in a request stored before too. Values masked already, and
    everything masking would leave, come back as they are."""
    return {name: (mask_body if name.endswith("_body") else mask)(value) for name, value in unpacked(row).items()}


def unpacked(row: Mapping[str, Any]) -> dict[str, Any]:
    """PACKED_FIELDS of a request_details row: from its `packed` column, or from the JSON columns of a row
    written before packing (both None for a request without details)."""
    blob = row.get("packed")
    if blob is not None:
        return unpack(bytes(blob))
    return {name: row.get(name) for name in PACKED_FIELDS}
