"""`python -m workers.broker_bench`: the embedded Kafka broker alone, as the order path uses it.

Starts the embedded broker (Tansu, memory storage) under a fresh temporary directory, creates
one topic of the platform's partition count, and for `--seconds` produces records at a fixed
`--rate` with the API's producer settings, one record a call as `placeOrder` does, keyed over
`--keys` keys (the bench's one market is one key). Unless `--no-consumer`, one consumer with
the matcher's settings reads them back. Every `--window` seconds it prints the records sent
per second, the broker's CPU (cores busy) and, consuming, the time from the producer's call
to the consumer's receipt (p50/p99) and the records the broker holds.

Tansu 0.6.0 keeps each produced batch as one object and lists all of a partition's objects
on every fetch that finds new records there (it has no offset index, and nothing ever
deletes them: no retention, no DeleteRecords), so with a consumer its CPU and the hop's
latency grow with the log; this script shows by how much.
"""

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import psutil
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from servers.kafka import start_tansu
from workers.kafka import MATCHER_CONSUMER, PARTITIONS, PRODUCER
from workers.pace import percentile

TOPIC = "broker-bench"


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Receiver:
    """The consumer: takes each record's latency (its value is the producer's send time)."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(
            TOPIC, bootstrap_servers=bootstrap, group_id="broker-bench", **MATCHER_CONSUMER
        )
        self.latencies: list[float] = []
        self.received = 0
        self.assigned = asyncio.Event()
        self.expected = -1  # set when the producer is done; all_in once that many arrived
        self.all_in = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        await self.consumer.start()
        try:
            while not stop.is_set():
                batch = await self.consumer.getmany(timeout_ms=20)
                now = time.time()
                if self.consumer.assignment():
                    self.assigned.set()
                for records in batch.values():
                    self.received += len(records)
                    self.latencies.extend(now - float(r.value) for r in records)
                if self.received >= self.expected >= 0:
                    self.all_in.set()
        finally:
            await self.consumer.stop()

    def take(self) -> list[float]:
        taken, self.latencies = sorted(self.latencies), []
        return taken


async def _drive(args: argparse.Namespace, bootstrap: str, broker: psutil.Process) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **PRODUCER)
    await producer.start()
    stop = asyncio.Event()
    receiver = None if args.no_consumer else Receiver(bootstrap)
    consuming = asyncio.create_task(receiver.run(stop)) if receiver else None
    try:
        if receiver is not None:  # the consumer has joined its group and got the partitions
            try:
                await asyncio.wait_for(receiver.assigned.wait(), 30.0)
            except TimeoutError:
                raise SystemExit("the consumer was given no partitions in 30 s") from None
        keys = [str(k).encode() for k in range(args.keys)]
        sent = 0
        acks: list[asyncio.Future[object]] = []
        began = time.perf_counter()
        window_start, window_sent, cpu = began, 0, sum(broker.cpu_times()[:2])
        while (now := time.perf_counter()) - began < args.seconds:
            due = began + sent / args.rate
            if due > now:
                await asyncio.sleep(due - now)
            acks.append(
                await producer.send(TOPIC, repr(time.time()).encode(), key=keys[sent % args.keys])
            )
            sent += 1
            if (now := time.perf_counter()) - window_start >= args.window:
                used = sum(broker.cpu_times()[:2])
                rate = (sent - window_sent) / (now - window_start)
                cores = (used - cpu) / (now - window_start)
                line = f"  {now - began:5.1f} s: {rate:6.0f} records/s, broker {cores:.2f} core"
                if receiver is not None:
                    ordered = receiver.take()
                    p50, p99 = percentile(ordered, 0.5), percentile(ordered, 0.99)
                    line += f", produce -> consume p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
                _out(line + f"; {sent:,} records in the log")
                window_start, window_sent, cpu = now, sent, used
                acks = [ack for ack in acks if not ack.done()]
        await asyncio.gather(*acks)
        if receiver is not None:  # the records still on their way, for up to 10 s
            receiver.expected = sent
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(receiver.all_in.wait(), 10.0)
            _out(f"  consumed {receiver.received:,} of {sent:,} records")
    finally:
        stop.set()
        if consuming is not None:
            await consuming
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="records produced per second")
    parser.add_argument("--seconds", type=float, default=32.0, help="time producing")
    parser.add_argument("--window", type=float, default=4.0, help="seconds per printed line")
    parser.add_argument("--keys", type=int, default=1, help="record keys (markets)")
    parser.add_argument("--no-consumer", action="store_true", help="produce only")
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.window <= 0 or args.keys < 1:
        parser.error("--rate, --seconds and --window must be positive, --keys at least 1")
    _out("predmarket embedded broker benchmark")
    with tempfile.TemporaryDirectory(prefix="predmarket-broker-bench-") as data_dir:
        broker, bootstrap = start_tansu(Path(data_dir))
        try:
            _out(
                f"  Tansu (memory storage) at {bootstrap}; {args.rate:,.0f} records/s, "
                f"{args.keys} key(s), {'no consumer' if args.no_consumer else 'one consumer'}"
            )
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(_drive(args, bootstrap, psutil.Process(broker.pid)))
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
