"""Codec speed: op_store's postcard against json and pickle, on 1,000 four-field dataclasses.

The three run interleaved in the same rounds (``harness.measure``), so machine noise hits them alike;
the figures that matter are the ratios. json works on the equivalent list of dicts (prepared ahead,
so its time is pure serialisation), pickle on the dataclass instances themselves. Run alone with
``python -m benchmarks.codec [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from dataclasses import asdict, dataclass

from op_store.vox import F64, U32, decode, encode

from .harness import Row, format_table, measure, timing_rows


@dataclass
class Item:
    id: U32
    name: str
    price: F64
    in_stock: bool


ITEMS = 1000
ItemList = list[Item]


def _items() -> list[Item]:
    return [Item(i, f"item-{i:04d}", i * 1.25, i % 3 == 0) for i in range(ITEMS)]


def run(quick: bool) -> list[Row]:
    """Encode and decode timings (us per 1,000-item list), their ratios and the encoded sizes."""
    items = _items()
    dicts = [asdict(item) for item in items]
    postcard_bytes = encode(items, ItemList)
    json_text = json.dumps(dicts)
    pickle_bytes = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
    assert decode(postcard_bytes, ItemList) == items  # measure a codec that works
    rounds, block = (5, 5) if quick else (9, 20)
    note = f"{ITEMS} x dataclass(u32, str, f64, bool), median of {rounds} rounds"

    encode_times = measure(
        {
            "op_store encode": lambda: encode(items, ItemList),
            "json.dumps": lambda: json.dumps(dicts),
            "pickle.dumps": lambda: pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL),
        },
        rounds=rounds,
        block=block,
    )
    decode_times = measure(
        {
            "op_store decode": lambda: decode(postcard_bytes, ItemList),
            "json.loads": lambda: json.loads(json_text),
            "pickle.loads": lambda: pickle.loads(pickle_bytes),
        },
        rounds=rounds,
        block=block,
    )
    rows = timing_rows("codec", encode_times, note=note) + timing_rows("codec", decode_times, note=note)
    for kind, times, ours in (("encode", encode_times, "op_store encode"), ("decode", decode_times, "op_store decode")):
        for other in times:
            if other != ours:
                rows.append(
                    {
                        "group": "codec",
                        "name": f"{ours} / {other}",
                        "value": times[ours] / times[other],
                        "unit": "ratio",
                        "note": f"{kind}: >1 means op_store is slower",
                    }
                )
    rows += [
        {"group": "codec", "name": "postcard size", "value": len(postcard_bytes), "unit": "bytes", "note": ""},
        {"group": "codec", "name": "json size", "value": len(json_text.encode()), "unit": "bytes", "note": ""},
        {"group": "codec", "name": "pickle size", "value": len(pickle_bytes), "unit": "bytes", "note": ""},
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.codec", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args(argv)
    print(format_table(run(quick=args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
