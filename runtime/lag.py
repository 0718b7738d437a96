"""Consumer lag per topic partition, measured from outside the consumer: the group's committed
offsets against the partitions' end offsets. Exported as a gauge every few seconds."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from prometheus_client import Gauge

CONSUMER_LAG = Gauge(
    "careloop_consumer_lag_records",
    "Records not yet consumed and committed by the service's consumer group",
    ["service", "topic", "partition"],
)


def lag_per_partition(
    end: dict[TopicPartition, int], committed: dict[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Pure: with no committed offset a partition lags by all it holds (consumers start at earliest)."""
    return {tp: max(0, end_offset - committed.get(tp, 0)) for tp, end_offset in end.items()}


class LagMonitor:
    def __init__(self, bootstrap_servers: str, group_id: str, topics: list[str], service: str) -> None:
        self._bootstrap = bootstrap_servers
        self._group = group_id
        self._topics = topics
        self._service = service
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None

    async def measure(self) -> dict[TopicPartition, int]:
        if not self._topics:
            return {}
        if self._admin is None or self._offsets is None:
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
            await self._admin.start()
            self._offsets = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
            await self._offsets.start()
        partitions = [
            TopicPartition(topic, p)
            for topic in self._topics
            for p in sorted(self._offsets.partitions_for_topic(topic) or await self._partitions(topic))
        ]
        end = await self._offsets.end_offsets(partitions)
        committed = {
            tp: meta.offset
            for tp, meta in (await self._admin.list_consumer_group_offsets(self._group)).items()
            if meta.offset >= 0
        }
        lag = lag_per_partition(end, committed)
        for tp, records in lag.items():
            CONSUMER_LAG.labels(self._service, tp.topic, str(tp.partition)).set(records)
        return lag

    async def _partitions(self, topic: str) -> set[int]:
        assert self._offsets is not None
        await self._offsets._client.force_metadata_update()  # aiokafka has no public metadata refresh
        return self._offsets.partitions_for_topic(topic) or set()

    async def close(self) -> None:
        if self._offsets is not None:
            await self._offsets.stop()
        if self._admin is not None:
            await self._admin.close()
        self._admin = self._offsets = None
