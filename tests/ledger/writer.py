"""A writer process for concurrency and crash tests: registers records, integrating as it goes,
and prints each record id once its write is acknowledged (returned from `execute`)."""

from __future__ import annotations

import argparse
import sys

from ledger.config import Settings
from ledger.service import Ledger
from tests.ledger.builders import AGENCY, metadata


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--integrate-every", type=int, default=1)
    args = parser.parse_args()
    with Ledger(Settings.from_env(args.db, args.data_dir)) as ledger:
        for i in range(args.count):
            body = f"{args.prefix} document {i}".encode()
            digest = ledger.records.put_content(body, agency=AGENCY.agency)
            meta = dict(metadata(i), notation=f"{i}/W-{args.prefix}")
            created = ledger.records.do(AGENCY, "record.create", metadata=meta, retention=10,
                                        schedule="S", content={"digest": digest, "size": len(body),
                                                               "media_type": "text/plain"})
            rid = created[0].record
            ledger.records.do(AGENCY, "record.hold.place", record=rid, hold="H", reason="r")
            print(rid, flush=True)
            if (i + 1) % args.integrate_every == 0:
                ledger.log.integrate()
                ledger.log.checkpoint()


if __name__ == "__main__":
    sys.exit(main())
