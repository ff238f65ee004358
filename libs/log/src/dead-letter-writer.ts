import type { FeaturelogError } from '@featurelog/domain';
import type { AppendRecord, EventLog, LogRecord, TopicSpec } from './event-log.port';

/** A record a consumer refused for good (it cannot be decoded or is invalid), and why. */
export interface PoisonedRecord {
  record: LogRecord;
  error: FeaturelogError;
}

export const DLQ_HEADERS = {
  errorCode: 'featurelog.error.code',
  errorReason: 'featurelog.error.reason',
  sourceTopic: 'featurelog.source.topic',
  sourcePartition: 'featurelog.source.partition',
  sourceOffset: 'featurelog.source.offset',
  /** The projection that refused the record (DeadLetterWriter's `consumer`). */
  consumer: 'featurelog.consumer',
} as const;

/**
 * The project's dead-letter topic as one consuming projection writes to it: each poison record once per
 * consumer, whatever the redelivery. A consumer sees a record again after a crash or a restart (the
 * materializer's checkpoint, the compactor's covered offsets, move past a poison record only after its
 * dead letter is durable), so before appending, the entries this consumer already wrote are looked up:
 * the topic is read once, on the first poison record (dead letters are rare and the topic small), then
 * only what was appended since. Two consumers (materializer, compactor) that both refuse a record each
 * write their own entry, told apart by the `featurelog.consumer` header.
 */
export class DeadLetterWriter {
  /** `topic/partition/offset` of the source records this consumer has dead-lettered. */
  private readonly sent = new Set<string>();
  /** DLQ partition → next offset to read into `sent`. */
  private readonly readUntil = new Map<number, number>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly log: EventLog,
    /** topicNames.dlq(project). */
    readonly topic: string,
    /** A name stable across restarts, e.g. `<project>.materializer`, `<project>.compactor`. */
    readonly consumer: string,
    /**
     * The topic's declaration (topics/dlq.yaml), to create it on the first dead letter if `apply` has not
     * yet: a missing DLQ must not turn one poison record into a consumer that fails for good.
     */
    private readonly topicSpec?: TopicSpec,
  ) {}

  /** Appends the records this consumer has not dead-lettered yet; resolves with those (durable). */
  send(poisoned: readonly PoisonedRecord[]): Promise<PoisonedRecord[]> {
    const run = this.queue.then(async () => {
      await this.catchUp();
      const fresh = poisoned.filter(({ record }, i) => {
        const key = sourceKey(record.topic, record.partition, record.offset);
        // The same record twice in one call counts once too.
        return !this.sent.has(key) && poisoned.findIndex((p) => p.record === record) === i;
      });
      if (fresh.length === 0) return [];
      await this.log.append(
        this.topic,
        fresh.map((entry) => this.deadLetter(entry)),
      );
      for (const { record } of fresh) this.sent.add(sourceKey(record.topic, record.partition, record.offset));
      return fresh;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Reads the dead letters appended since the last look (by any process) into `sent`. */
  private async catchUp(): Promise<void> {
    if ((await this.log.describeTopic(this.topic)) === undefined) {
      if (this.topicSpec !== undefined) await this.log.ensureTopic({ ...this.topicSpec, name: this.topic });
      return;
    }
    for (const [partition, end] of await this.log.endOffsets(this.topic)) {
      const from = this.readUntil.get(partition) ?? 0;
      if (from >= end) continue;
      for await (const records of this.log.read(this.topic, partition, from, { untilOffset: end })) {
        for (const { headers } of records) {
          if (headers[DLQ_HEADERS.consumer]?.toString() !== this.consumer) continue;
          this.sent.add(
            sourceKey(
              headers[DLQ_HEADERS.sourceTopic]?.toString() ?? '',
              Number(headers[DLQ_HEADERS.sourcePartition]?.toString()),
              Number(headers[DLQ_HEADERS.sourceOffset]?.toString()),
            ),
          );
        }
      }
      this.readUntil.set(partition, end);
    }
  }

  /** The original key, value and headers, plus why, where from and who refused it. */
  private deadLetter({ record, error }: PoisonedRecord): AppendRecord {
    return {
      key: record.key,
      value: record.value,
      headers: {
        ...record.headers,
        [DLQ_HEADERS.errorCode]: error.code,
        [DLQ_HEADERS.errorReason]: error.message,
        [DLQ_HEADERS.sourceTopic]: record.topic,
        [DLQ_HEADERS.sourcePartition]: String(record.partition),
        [DLQ_HEADERS.sourceOffset]: String(record.offset),
        [DLQ_HEADERS.consumer]: this.consumer,
      },
    };
  }
}

function sourceKey(topic: string, partition: number, offset: number): string {
  return `${topic}/${partition}/${offset}`;
}
