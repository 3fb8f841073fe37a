import type { LocalPipeline, PipelineService } from './local-pipeline';
import { histogramQuantile, scrapeMetrics, sumBy, sumOf, type Sample } from './metrics-scrape';

/** What the status line shows, read from the services' own /metrics. */
export interface PipelineStatus {
  polls: number;
  pollsFailed: number;
  stateRecords: number;
  events: Record<string, number>;
  delivered: number;
  retrying: number;
  dead: number;
  received: number;
  duplicates: number;
  p99Seconds: number;
  /** Services whose /metrics did not answer. */
  unreachable: PipelineService[];
}

export async function collectStatus(pipeline: LocalPipeline): Promise<PipelineStatus> {
  const unreachable: PipelineService[] = [];
  const scrape = async (service: PipelineService): Promise<Sample[]> => {
    if (!pipeline.processes.has(service)) return [];
    try {
      return await scrapeMetrics(pipeline.metricsUrl(service));
    } catch {
      unreachable.push(service);
      return [];
    }
  };
  const [poller, differ, dispatcher, receiver] = await Promise.all([
    scrape('poller'),
    scrape('differ'),
    scrape('dispatcher'),
    scrape('webhook-receiver'),
  ]);

  const polls = sumOf(poller, 'gridpulse_poller_polls_total');
  return {
    polls,
    pollsFailed: polls - sumOf(poller, 'gridpulse_poller_polls_total', { outcome: 'ok' }),
    stateRecords: sumOf(poller, 'gridpulse_poller_records_produced_total'),
    events: sumBy(differ, 'gridpulse_differ_events_out_total', 'type'),
    delivered: sumOf(dispatcher, 'gridpulse_dispatcher_deliveries_total', { outcome: 'delivered' }),
    retrying: sumOf(dispatcher, 'gridpulse_dispatcher_retries_pending'),
    dead: sumOf(dispatcher, 'gridpulse_dispatcher_deliveries_total', { outcome: 'dead' }),
    received: sumOf(receiver, 'gridpulse_receiver_events_total'),
    duplicates: sumOf(receiver, 'gridpulse_receiver_duplicates_total'),
    p99Seconds: histogramQuantile(
      dispatcher,
      'gridpulse_dispatcher_delivery_latency_seconds',
      0.99,
    ),
    unreachable,
  };
}

/** One compact line: polls │ state │ events │ deliveries │ receiver │ latency. */
export function formatStatus(status: PipelineStatus, elapsedMs: number): string {
  const n = (value: number) => Math.round(value).toLocaleString('en-US');
  const failedShare = status.polls === 0 ? 0 : (100 * status.pollsFailed) / status.polls;
  const events = ['device.discovered', 'device.updated', 'device.disconnected']
    .map((type) => `${type.slice('device.'.length)} ${n(status.events[type] ?? 0)}`)
    .join(' · ');
  const p99 = Number.isNaN(status.p99Seconds) ? '–' : `${status.p99Seconds.toFixed(2)} s`;
  const parts = [
    `[${formatElapsed(elapsedMs)}]`,
    `polls ${n(status.polls)} (${failedShare.toFixed(1)}% failed)`,
    `state ${n(status.stateRecords)}`,
    `events ${events}`,
    `deliveries ok ${n(status.delivered)} · retrying ${n(status.retrying)} · dead ${n(status.dead)}`,
    `received ${n(status.received)} (+${n(status.duplicates)} dup)`,
    `p99 ${p99}`,
  ];
  if (status.unreachable.length > 0) parts.push(`NO METRICS: ${status.unreachable.join(', ')}`);
  return parts.join(' │ ');
}

function formatElapsed(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}`;
}
