import type { EventRecord } from '../common/events';
import type { Logger } from '../common/logger';
import type { AvroSerde } from '../common/avro';
import type { Topics } from '../common/topics';
import type { BatchingProducer } from './batching-producer';
import { formatDurationMs, type DispatcherConfig } from './config';
import type { Destination } from './destination';
import type { DestinationStore } from './destination-store';
import type { DestinationManager } from './destinations';
import {
  deliveryKey,
  type AttemptSummary,
  type DeliveryAttemptRecord,
  type DeliveryRecord,
} from './delivery-record';
import type { DispatcherMetrics } from './metrics';
import { nextRetryDelayMs, type FailureKind } from './retry-policy';
import { tierFor, type RetryTier } from './retry-tiers';
import type { AttemptResult, WebhookClient } from './webhook-client';

/** One event for one destination, as the scheduler runs it. */
export interface DeliveryJob {
  destinationId: string;
  event: EventRecord;
  /** The webhook body, serialized once per event and shared by its jobs. */
  body: string;
  attempts: number;
  deferrals: number;
  history: AttemptSummary[];
}

/**
 * Runs deliveries with bounded concurrency per destination. `submit` settles once the job is
 * finished: delivered, or durably written (acks=all) to a retry tier or the dead topic. It
 * never waits on a slow destination: past its in-flight limit a job waits in a queue only if
 * the destination's observed pace (and rate limit) should start it within `maxQueueWaitMs`;
 * otherwise, or when the destination stops making progress, the job goes to the retry path
 * without using an attempt. A busy but healthy destination is deferred at its own pace (the
 * job comes back about when the queue ahead of it has drained); a stalled one backs off.
 */
export interface DeliveryScheduler {
  submit(job: DeliveryJob): Promise<void>;
  /** Hands queued jobs to the retry path and waits for attempts under way. */
  drain(): Promise<void>;
}

const SUCCESS_RECORD_INTERVAL_MS = 60 * 60 * 1000;
const PUMP_INTERVAL_MS = 25;
const DEFER_BASE_MS = 1_000;
const DEFER_MAX_MS = 60_000;
/** What a destination's attempts are assumed to take before any has finished. */
const INITIAL_ATTEMPT_MS = 100;
/** Weight of the newest attempt in the moving average of attempt durations. */
const DURATION_EWMA_WEIGHT = 0.1;
/** A destination whose attempts take under this share of the queue wait is fast. */
const FAST_SHARE_OF_QUEUE_WAIT = 0.25;
/** Shortest hand-off delay for a busy destination: under it the round trip is not worth it. */
const BUSY_DEFER_MIN_MS = 250;

export function createDeliveryScheduler(deps: {
  config: DispatcherConfig;
  store: DestinationStore;
  manager: DestinationManager;
  client: WebhookClient;
  producer: BatchingProducer;
  serde: AvroSerde;
  topics: Topics;
  tiers: readonly RetryTier[];
  metrics: DispatcherMetrics;
  logger: Logger;
  now?: () => number;
}): DeliveryScheduler {
  const { config, store, manager, client, producer, serde, topics, tiers, metrics } = deps;
  const logger = deps.logger.child({ component: 'delivery-scheduler' });
  const now = deps.now ?? Date.now;
  const states = new Map<string, DestinationState>();
  const running = new Set<Promise<void>>();
  const lastSuccess = new Map<string, number>();
  const successRecorded = new Map<string, number>();
  let draining = false;

  const pumpTimer = setInterval(() => {
    for (const [id, state] of states) pump(id, state);
  }, PUMP_INTERVAL_MS);
  pumpTimer.unref();

  function stateOf(id: string): DestinationState {
    let state = states.get(id);
    if (!state) {
      const at = now();
      state = {
        inFlight: 0,
        queue: [],
        tokens: 1,
        refilledAt: at,
        attemptMs: INITIAL_ATTEMPT_MS,
        progressAt: at,
        deferUntil: 0,
      };
      states.set(id, state);
    }
    return state;
  }

  function submit(job: DeliveryJob): Promise<void> {
    const destination = store.get(job.destinationId);
    if (!destination) {
      metrics.deliveries.inc({ outcome: 'dropped' });
      logger.info(
        { destinationId: job.destinationId, webhookId: job.event.key },
        'destination gone, delivery dropped',
      );
      return Promise.resolve();
    }
    if (!destination.enabled) return bury(job, 'destination-disabled');

    const state = stateOf(job.destinationId);
    if (!draining && state.queue.length === 0 && canStart(state, destination)) {
      return start(state, destination, job);
    }
    const position = state.queue.length + 1;
    if (
      !draining &&
      position <= config.maxQueuedPerDestination &&
      (position <= 1 ||
        isFast(state, destination) ||
        expectedWaitMs(state, destination, position) <= config.maxQueueWaitMs)
    ) {
      return new Promise((resolve, reject) => {
        state.queue.push({ job, queuedAt: now(), resolve, reject });
      });
    }
    return defer(job, state, destination);
  }

  /** When a job at `position` in the queue should start, at the destination's observed pace. */
  function expectedWaitMs(state: DestinationState, destination: Destination, position: number) {
    const perSecond = servicePerSecond(state, destination);
    return (position / perSecond) * 1000;
  }

  /** Attempts a second the destination takes: its in-flight limit over attempt time, capped. */
  function servicePerSecond(state: DestinationState, destination: Destination): number {
    const byConcurrency = (config.maxInFlightPerDestination * 1000) / Math.max(1, state.attemptMs);
    const rate = destination.rateLimitPerSecond;
    return rate === null ? byConcurrency : Math.min(rate, byConcurrency);
  }

  /**
   * Answers well within the queue wait, unthrottled, and not stalled. Such a
   * destination's burst waits in memory (bounded by maxQueuedPerDestination and the pending
   * bound): a hand-off through a retry tier costs far more than the wait and isolates nothing,
   * since the destination is only busy, not slow.
   */
  function isFast(state: DestinationState, destination: Destination): boolean {
    const fastMs = config.maxQueueWaitMs * FAST_SHARE_OF_QUEUE_WAIT;
    const rate = destination.rateLimitPerSecond;
    if (
      rate !== null &&
      rate < servicePerSecond(state, { ...destination, rateLimitPerSecond: null })
    )
      return false;
    if (state.attemptMs > fastMs) return false;
    // Stalled is judged over the whole queue wait, as pump does: a shorter window took the
    // dispatcher's own pauses (decoding a large fetch, GC on a loaded machine) for a hanging
    // destination and sent half of a healthy burst through the retry tier.
    return state.inFlight === 0 || !isStalled(state, state.progressAt);
  }

  /** Attempts are under way but none finished for the queue wait: hanging or very slow. */
  function isStalled(state: DestinationState, since: number): boolean {
    return now() - Math.max(since, state.progressAt) > config.maxQueueWaitMs;
  }

  function pump(id: string, state: DestinationState): void {
    const destination = store.get(id);
    while (state.queue.length > 0) {
      const head = state.queue[0]!;
      // Measured from the last progress, not from queueing: a burst to a healthy destination
      // waits its turn, while one whose attempts hang is handed on.
      if (!destination || draining || isStalled(state, head.queuedAt)) {
        state.queue.shift();
        const settled = destination ? defer(head.job, state, destination) : submit(head.job);
        settled.then(head.resolve, head.reject);
        continue;
      }
      if (!canStart(state, destination)) return;
      state.queue.shift();
      start(state, destination, head.job).then(head.resolve, head.reject);
    }
    if (state.inFlight === 0 && state.queue.length === 0 && !store.get(id)) states.delete(id);
  }

  function canStart(state: DestinationState, destination: Destination): boolean {
    if (state.inFlight >= config.maxInFlightPerDestination) return false;
    const rate = destination.rateLimitPerSecond;
    if (rate === null) return true;

    const at = now();
    const burst = Math.max(1, rate);
    state.tokens = Math.min(burst, state.tokens + ((at - state.refilledAt) / 1000) * rate);
    state.refilledAt = at;
    if (state.tokens < 1) return false;
    state.tokens -= 1;
    return true;
  }

  function start(state: DestinationState, destination: Destination, job: DeliveryJob) {
    const gauge = metrics.inFlight.labels(metrics.destinationLabel(destination.id));
    state.inFlight += 1;
    gauge.inc();
    const attempt = client
      .send(destination, job.event.key, job.body)
      .then((result) => {
        state.attemptMs += (result.durationMs - state.attemptMs) * DURATION_EWMA_WEIGHT;
        return result;
      })
      .finally(() => {
        state.inFlight -= 1;
        gauge.dec();
        state.progressAt = now();
        pump(destination.id, state);
      });
    const settled = attempt.then((result) => settle(destination, job, result));
    running.add(settled);
    void settled.catch(() => undefined).finally(() => running.delete(settled));
    return settled;
  }

  async function settle(destination: Destination, job: DeliveryJob, result: AttemptResult) {
    const at = now();
    const attempt = job.attempts + 1;
    const summary: AttemptSummary = {
      attempt,
      at: at - result.durationMs,
      durationMs: result.durationMs,
      statusCode: result.statusCode,
      errorKind: result.errorKind,
    };
    const history = [...job.history, summary];
    const fields = { destinationId: destination.id, webhookId: job.event.key, attempt };
    metrics.attempts.inc({
      destination: metrics.destinationLabel(destination.id),
      outcome: result.ok ? 'success' : outcomeLabel(result),
    });
    metrics.attemptDuration.observe(
      { result: result.ok ? 'success' : 'failure' },
      result.durationMs / 1000,
    );

    if (result.ok) {
      metrics.deliveries.inc({ outcome: 'delivered' });
      metrics.deliveryLatency.observe(Math.max(0, at - job.event.timestamp) / 1000);
      noteSuccess(destination, at);
      logger.debug({ ...fields, durationMs: result.durationMs }, 'delivered');
      await recordAttempt(job, summary, 'success', null);
      return;
    }

    if (result.statusCode === 410) {
      logger.warn({ ...fields, statusCode: 410 }, 'destination answered 410 gone, disabling it');
      metrics.autoDisabled.inc({ reason: 'gone' });
      await Promise.all([
        manager.disable(destination.id, 'the receiver answered 410 Gone'),
        bury({ ...job, attempts: attempt, history }, 'gone'),
        recordAttempt(job, summary, 'gone', null),
      ]);
      return;
    }

    const delayMs = nextRetryDelayMs(config.retry, attempt, {
      kind: failureKind(result),
      retryAfterMs: result.retryAfterMs,
    });
    if (delayMs === null) {
      logger.warn(
        { ...fields, errorKind: result.errorKind, statusCode: result.statusCode },
        'delivery given up',
      );
      await Promise.all([
        bury({ ...job, attempts: attempt, history }, 'exhausted'),
        recordAttempt(job, summary, 'dead', null),
        disableIfFailingTooLong(destination, at),
      ]);
      return;
    }

    const dueAt = at + delayMs;
    logger.debug(
      { ...fields, errorKind: result.errorKind, statusCode: result.statusCode, delayMs },
      'attempt failed, retry scheduled',
    );
    metrics.deliveries.inc({ outcome: 'retry' });
    await Promise.all([
      hand({ ...job, attempts: attempt, history }, dueAt, 'failed'),
      recordAttempt(job, summary, 'retry', dueAt),
    ]);
  }

  function defer(job: DeliveryJob, state: DestinationState, destination: Destination) {
    const at = now();
    const rate = destination.rateLimitPerSecond;
    const reason =
      rate !== null && state.inFlight < config.maxInFlightPerDestination
        ? 'rate-limited'
        : 'overflow';
    metrics.deliveries.inc({ outcome: 'deferred' });
    const deferred = { ...job, deferrals: job.deferrals + 1 };

    if (draining || (state.inFlight > 0 && isStalled(state, at))) {
      const backoffMs = Math.min(DEFER_MAX_MS, DEFER_BASE_MS * 2 ** job.deferrals);
      return hand(deferred, at + Math.round(backoffMs * (0.8 + 0.4 * Math.random())), reason);
    }
    // Busy, not stalled: a slot in a virtual queue behind the real one, one service interval
    // after the previous deferral, so deferred jobs return spread at the pace they can start.
    const perSecond = servicePerSecond(state, destination);
    const queueClearsAt = at + expectedWaitMs(state, destination, state.queue.length + 1);
    const dueAt = Math.max(queueClearsAt, state.deferUntil, at + BUSY_DEFER_MIN_MS);
    state.deferUntil = dueAt + 1000 / perSecond;
    return hand(deferred, Math.round(dueAt), reason);
  }

  async function hand(job: DeliveryJob, dueAt: number, reason: string): Promise<void> {
    const at = now();
    const tier = tierFor(tiers, dueAt - at);
    const record: DeliveryRecord = { ...toRecord(job, reason, at), dueAt };
    const value = await serde.encode(tier.topic, 'delivery', record);
    await producer.send(tier.topic, { key: deliveryKey(job.destinationId, job.event.key), value });
  }

  async function bury(job: DeliveryJob, reason: string): Promise<void> {
    const at = now();
    const topic = topics['deliveries.dead.v1'];
    const record: DeliveryRecord = { ...toRecord(job, reason, at), dueAt: at, deadAt: at };
    const value = await serde.encode(topic, 'delivery', record);
    await producer.send(topic, { key: deliveryKey(job.destinationId, job.event.key), value });
    metrics.deliveries.inc({ outcome: 'dead' });
  }

  async function recordAttempt(
    job: DeliveryJob,
    summary: AttemptSummary,
    outcome: DeliveryAttemptRecord['outcome'],
    nextAttemptAt: number | null,
  ): Promise<void> {
    const topic = topics['delivery-attempts.v1'];
    const record: DeliveryAttemptRecord = {
      destinationId: job.destinationId,
      webhookId: job.event.key,
      eventType: job.event.type,
      attempt: summary.attempt,
      at: summary.at,
      durationMs: summary.durationMs,
      outcome,
      statusCode: summary.statusCode,
      errorKind: summary.errorKind as DeliveryAttemptRecord['errorKind'],
      nextAttemptAt,
    };
    const value = await serde.encode(topic, 'delivery-attempt', record);
    await producer.send(topic, { key: job.destinationId, value });
  }

  function noteSuccess(destination: Destination, at: number): void {
    lastSuccess.set(destination.id, at);
    const recorded = Math.max(
      destination.lastSuccessAt ?? 0,
      successRecorded.get(destination.id) ?? 0,
    );
    if (at - recorded < SUCCESS_RECORD_INTERVAL_MS) return;
    successRecorded.set(destination.id, at);
    manager.recordSuccess(destination.id, at).catch((err: unknown) => {
      logger.warn({ err, destinationId: destination.id }, 'last success not recorded');
    });
  }

  async function disableIfFailingTooLong(destination: Destination, at: number): Promise<void> {
    const current = store.get(destination.id) ?? destination;
    const lastOk = Math.max(
      lastSuccess.get(destination.id) ?? 0,
      current.lastSuccessAt ?? 0,
      current.enabledAt,
    );
    if (!current.enabled || at - lastOk < config.autoDisableAfterMs) return;
    logger.warn(
      { destinationId: destination.id, lastSuccessAt: lastOk },
      'destination failing for days, disabling it',
    );
    metrics.autoDisabled.inc({ reason: 'failing' });
    const period = formatDurationMs(config.autoDisableAfterMs);
    await manager.disable(
      destination.id,
      `no successful delivery for ${period} and retries exhausted`,
    );
  }

  return {
    submit,
    async drain() {
      draining = true;
      for (const [id, state] of states) pump(id, state);
      while (running.size > 0) await Promise.allSettled([...running]);
      clearInterval(pumpTimer);
    },
  };
}

interface DestinationState {
  inFlight: number;
  queue: Array<{
    job: DeliveryJob;
    queuedAt: number;
    resolve: () => void;
    reject: (err: unknown) => void;
  }>;
  tokens: number;
  refilledAt: number;
  /** Moving average of attempt durations: the destination's observed pace. */
  attemptMs: number;
  /** When an attempt last finished (or the state was created). */
  progressAt: number;
  /** The due time the next busy deferral goes after. */
  deferUntil: number;
}

function toRecord(job: DeliveryJob, reason: string, at: number): Omit<DeliveryRecord, 'dueAt'> {
  return {
    destinationId: job.destinationId,
    event: job.event,
    attempts: job.attempts,
    deferrals: job.deferrals,
    enqueuedAt: at,
    reason,
    history: job.history,
    deadAt: null,
  };
}

function failureKind(result: AttemptResult): FailureKind {
  if (result.errorKind === 'timeout') return 'timeout';
  if (result.statusCode === 429) return 'throttled';
  return 'other';
}

function outcomeLabel(result: AttemptResult): string {
  if (result.statusCode === 429) return 'status_429';
  if (result.statusCode !== null && result.statusCode >= 500) return 'status_5xx';
  if (result.statusCode !== null && result.statusCode >= 400) return 'status_4xx';
  return (result.errorKind ?? 'unknown').replace('-', '_');
}
