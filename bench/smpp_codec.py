"""SMPP micro-benchmark: codec PDUs/s, and submit_sm/s through EsmeClient and SmppServer on loopback.

    .venv/bin/python bench/smpp_codec.py [--pdus 200000] [--submits 50000] [--window 100] [--uvloop]

Client and server share one process and one core here, so the loopback figure counts both
sides' work for every message (encode, frame, decode, dispatch, respond, resolve).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

from tidings.smpp import (
    DataCoding,
    DeliveryReceipt,
    EnquireLinkResp,
    EsmClass,
    EsmeClient,
    MessageState,
    Npi,
    Pdu,
    SmppServer,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Ton,
    decode,
    receipt_pdu,
)


def sample_pdus() -> dict[str, Pdu]:
    submit = SubmitSm(
        sequence_number=1234,
        source_addr="Tidings",
        source_addr_ton=Ton.ALPHANUMERIC,
        destination_addr="46701234567",
        dest_addr_ton=Ton.INTERNATIONAL,
        dest_addr_npi=Npi.ISDN,
        registered_delivery=1,
        data_coding=DataCoding.SMSC_DEFAULT,
        short_message=b"Your verification code is 123456. It expires in 10 minutes.",
    )
    concatenated = SubmitSm(
        sequence_number=1235,
        source_addr="Tidings",
        destination_addr="46701234567",
        esm_class=EsmClass.UDHI,
        data_coding=DataCoding.UCS2,
        short_message=b"\x05\x00\x03\x2a\x02\x01" + ("x" * 67).encode("utf-16-be"),
        tlvs={Tag.USER_MESSAGE_REFERENCE: 7},
    )
    receipt = receipt_pdu(
        DeliveryReceipt(message_id="0badc0ffee", message_state=MessageState.DELIVERED, submitted=1, delivered=1),
        source_addr="46701234567",
        destination_addr="Tidings",
    )
    receipt.sequence_number = 99
    return {
        "submit_sm": submit,
        "submit_sm (UDH, TLV)": concatenated,
        "deliver_sm receipt": receipt,
        "submit_sm_resp": SubmitSmResp(sequence_number=1234, message_id="0badc0ffee"),
        "enquire_link_resp": EnquireLinkResp(sequence_number=5),
    }


def rate(function: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        function()
    return count / (time.perf_counter() - started)


def bench_codec(count: int) -> None:
    print(f"codec, {count} PDUs each (PDUs/s):")
    print(f"  {'PDU':24} {'encode':>12} {'decode':>12}")
    for name, pdu in sample_pdus().items():
        data = pdu.encode()
        encode_rate = rate(pdu.encode, count)
        decode_rate = rate(lambda data=data: decode(data), count)  # type: ignore[misc]
        print(f"  {name:24} {encode_rate:12,.0f} {decode_rate:12,.0f}")


async def bench_loopback(count: int, window: int) -> None:
    async with SmppServer(enquire_link_interval=None, inbound_window=max(window, 100)) as server:
        client = EsmeClient("127.0.0.1", server.port, "bench", "bench", window=window, enquire_link_interval=None)
        await client.start()
        try:
            template = sample_pdus()["submit_sm"]
            assert isinstance(template, SubmitSm)

            async def worker(share: int) -> None:
                for _ in range(share):
                    pdu = SubmitSm(
                        source_addr=template.source_addr,
                        destination_addr=template.destination_addr,
                        short_message=template.short_message,
                    )
                    await client.submit(pdu)

            workers = window
            started = time.perf_counter()
            await asyncio.gather(*(worker(count // workers) for _ in range(workers)))
            elapsed = time.perf_counter() - started
            sent = (count // workers) * workers
            print(f"loopback submit_sm -> submit_sm_resp, window {window}: {sent / elapsed:,.0f} submits/s ({sent} in {elapsed:.2f}s)")
        finally:
            await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdus", type=int, default=200_000)
    parser.add_argument("--submits", type=int, default=50_000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--uvloop", action="store_true", help="run the loopback on uvloop")
    args = parser.parse_args()
    bench_codec(args.pdus)
    if args.uvloop:
        import uvloop

        runner: Callable[..., object] = uvloop.run
    else:
        runner = asyncio.run
    runner(bench_loopback(args.submits, args.window))


if __name__ == "__main__":
    main()
