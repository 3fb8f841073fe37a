import type { EventRecord } from '../common/events';
import type { AttemptErrorKind } from './webhook-client';

/** A delivery on a retry tier or on deliveries.dead.v1 (schemas/delivery.avsc). */
export interface DeliveryRecord {
  destinationId: string;
  event: EventRecord;
  attempts: number;
  dueAt: number;
  enqueuedAt: number;
  reason: string;
  deferrals: number;
  history: AttemptSummary[];
  deadAt: number | null;
}

export interface AttemptSummary {
  attempt: number;
  at: number;
  durationMs: number;
  statusCode: number | null;
  errorKind: string | null;
}

/** One record on delivery-attempts.v1 (schemas/delivery-attempt.avsc). */
export interface DeliveryAttemptRecord {
  destinationId: string;
  webhookId: string;
  eventType: string;
  attempt: number;
  at: number;
  durationMs: number;
  outcome: 'success' | 'retry' | 'dead' | 'gone';
  statusCode: number | null;
  errorKind: AttemptErrorKind | null;
  nextAttemptAt: number | null;
}

/** Retry and dead records are keyed so one destination's backlog spreads over partitions. */
export function deliveryKey(destinationId: string, eventKey: string): string {
  return `${destinationId}:${eventKey}`;
}
