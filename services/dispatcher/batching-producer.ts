import type { Message, Producer } from 'kafkajs';

/**
 * Groups sends issued within `lingerMs` into one acks=all produce request: thousands of
 * hand-offs a second would otherwise be thousands of round trips. Each caller's promise settles
 * when its own record is acknowledged (or the batch failed).
 */
export interface BatchingProducer {
  send(topic: string, message: Message): Promise<void>;
  flush(): Promise<void>;
}

export function createBatchingProducer(
  producer: Producer,
  options: { lingerMs?: number; maxBatch?: number } = {},
): BatchingProducer {
  const lingerMs = options.lingerMs ?? 10;
  const maxBatch = options.maxBatch ?? 1000;
  let queue: Array<{ topic: string; message: Message; settle: Settle }> = [];
  let timer: NodeJS.Timeout | undefined;
  const inFlight = new Set<Promise<void>>();

  function flushNow(): Promise<void> {
    clearTimeout(timer);
    timer = undefined;
    if (queue.length === 0) return Promise.resolve();
    const batch = queue;
    queue = [];

    const byTopic = new Map<string, Message[]>();
    for (const { topic, message } of batch) {
      const list = byTopic.get(topic) ?? [];
      list.push(message);
      byTopic.set(topic, list);
    }
    const sending = producer
      .sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      })
      .then(
        () => batch.forEach(({ settle }) => settle(null)),
        (err: unknown) => batch.forEach(({ settle }) => settle(err)),
      );
    inFlight.add(sending);
    void sending.finally(() => inFlight.delete(sending));
    return sending;
  }

  return {
    send(topic, message) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ topic, message, settle: (err) => (err ? reject(err) : resolve()) });
        if (queue.length >= maxBatch) void flushNow();
        else timer ??= setTimeout(() => void flushNow(), lingerMs);
      });
    },
    async flush() {
      await flushNow();
      await Promise.all([...inFlight]);
    },
  };
}

type Settle = (err: unknown) => void;
