import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../common/logger';

export interface ScheduledEntry {
  connectionId: string;
  /** The schedule group, e.g. the OEM; each has its own interval. */
  group: string;
}

/**
 * Spreads every connection's polls over its group's interval: a connection's slot is a stable
 * hash of its id modulo the interval (seconds), so a fleet never hits an OEM all at :00, and a
 * connection keeps its slot across restarts and replicas. One node-cron task ticks every
 * second and starts the connections whose slot it is. A connection whose previous cycle is
 * still running when its slot comes round is not started twice: the slot is reported missed.
 * Ticks the event loop could not run on time are caught up (up to one interval), so a busy
 * process polls late, never never.
 */
export interface Scheduler {
  add(entry: ScheduledEntry): void;
  remove(connectionId: string): void;
  has(connectionId: string): boolean;
  size(): number;
  start(): void;
  /**
   * Stops starting cycles, aborts the running ones' signal (what they have not sent yet is
   * abandoned) and resolves once they have finished.
   */
  stop(): Promise<void>;
}

export function createScheduler(options: {
  intervalSeconds: Record<string, number>;
  /** Runs one cycle; `lagMs` is how late it starts after its slot; `signal` aborts on stop. */
  runCycle: (entry: ScheduledEntry, lagMs: number, signal: AbortSignal) => Promise<void>;
  onMissed: (entry: ScheduledEntry) => void;
  logger: Logger;
  now?: () => number;
}): Scheduler {
  const now = options.now ?? Date.now;
  const logger = options.logger.child({ component: 'scheduler' });
  /** group → slot second → connection ids. */
  const wheel = new Map<string, Map<number, Set<string>>>();
  const entries = new Map<string, ScheduledEntry & { slot: number }>();
  const running = new Map<string, Promise<void>>();
  let task: ScheduledTask | undefined;
  let stopping = new AbortController();
  let lastTickSecond = Math.floor(now() / 1000);

  function intervalOf(group: string): number {
    const interval = options.intervalSeconds[group];
    if (interval === undefined) throw new Error(`no interval configured for ${group}`);
    return interval;
  }

  function startDue(second: number): void {
    for (const [group, slots] of wheel) {
      const due = slots.get(second % intervalOf(group));
      if (!due) continue;
      for (const connectionId of due) {
        const entry = entries.get(connectionId);
        if (entry) startCycle(entry, now() - second * 1000);
      }
    }
  }

  function startCycle(entry: ScheduledEntry, lagMs: number): void {
    if (running.has(entry.connectionId)) {
      options.onMissed(entry);
      return;
    }
    const cycle = options
      .runCycle(entry, lagMs, stopping.signal)
      .catch((err: unknown) => {
        logger.error({ err, connectionId: entry.connectionId }, 'poll cycle crashed');
      })
      .finally(() => running.delete(entry.connectionId));
    running.set(entry.connectionId, cycle);
  }

  function tick(): void {
    const current = Math.floor(now() / 1000);
    const longest = Math.max(1, ...[...wheel.keys()].map(intervalOf));
    const from = Math.max(lastTickSecond + 1, current - longest + 1);
    for (let second = from; second <= current; second += 1) startDue(second);
    lastTickSecond = Math.max(lastTickSecond, current);
  }

  return {
    add(entry) {
      const existing = entries.get(entry.connectionId);
      if (existing && existing.group === entry.group) return;
      if (existing) this.remove(entry.connectionId);
      const slot = slotOf(entry.connectionId, intervalOf(entry.group));
      entries.set(entry.connectionId, { ...entry, slot });
      let slots = wheel.get(entry.group);
      if (!slots) wheel.set(entry.group, (slots = new Map()));
      let bucket = slots.get(slot);
      if (!bucket) slots.set(slot, (bucket = new Set()));
      bucket.add(entry.connectionId);
    },
    remove(connectionId) {
      const entry = entries.get(connectionId);
      if (!entry) return;
      entries.delete(connectionId);
      wheel.get(entry.group)?.get(entry.slot)?.delete(connectionId);
    },
    has: (connectionId) => entries.has(connectionId),
    size: () => entries.size,
    start() {
      if (task) return;
      lastTickSecond = Math.floor(now() / 1000);
      stopping = new AbortController();
      // Every request waiting for the rate limit listens on it: thousands in a deep queue.
      setMaxListeners(0, stopping.signal);
      task = cron.schedule('* * * * * *', tick, {
        name: 'poller-slots',
        noOverlap: true,
        logger: cronLogger(logger),
      });
    },
    async stop() {
      await task?.destroy();
      task = undefined;
      stopping.abort();
      await Promise.all([...running.values()]);
    },
  };
}

/** A stable slot in [0, intervalSeconds) for a connection id. */
export function slotOf(connectionId: string, intervalSeconds: number): number {
  const digest = createHash('sha256').update(connectionId).digest();
  return digest.readUInt32BE(0) % intervalSeconds;
}

function cronLogger(logger: Logger) {
  return {
    info: (message: string) => logger.debug({ source: 'node-cron' }, message),
    warn: (message: string) => logger.debug({ source: 'node-cron' }, message),
    error: (message: string | Error) =>
      logger.warn({ source: 'node-cron', err: message }, 'cron error'),
    debug: (message: string | Error) => logger.trace({ source: 'node-cron', err: message }, 'cron'),
  };
}
