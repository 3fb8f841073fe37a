import type { LocalPipeline, PipelineService } from './local-pipeline';
import { histogramQuantile, scrapeMetrics, sumOf, type Sample } from './metrics-scrape';

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

/**
 * Reads the status from the services' /metrics, with totals that survive a restart: a
 * restarted service's counters start again from 0, so what it had counted before is carried
 * as a base (Prometheus' rate() treats a counter reset the same way). A restart shows as a new
 * process start time, or, for a service without process metrics, as a counter going down. A
 * service that does not answer keeps its last figures and is named in `unreachable`.
 */
export function createStatusCollector(pipeline: LocalPipeline): () => Promise<PipelineStatus> {
  const services = ['poller', 'differ', 'dispatcher', 'webhook-receiver'] as const;
  const continuity = new Map<PipelineService, CounterContinuity>(
    services.map((service) => [service, createCounterContinuity()]),
  );

  return async function collectStatus() {
    const unreachable: PipelineService[] = [];
    const scrape = async (service: (typeof services)[number]) => {
      const counters = continuity.get(service)!;
      if (!pipeline.processes.has(service)) return counters.read([]);
      try {
        return counters.read(await scrapeMetrics(pipeline.metricsUrl(service)));
      } catch {
        unreachable.push(service);
        return counters.lastRead();
      }
    };
    const [poller, differ, dispatcher, receiver] = await Promise.all([
      scrape('poller'),
      scrape('differ'),
      scrape('dispatcher'),
      scrape('webhook-receiver'),
    ]);

    return {
      polls: poller.total('gridpulse_poller_polls_total'),
      pollsFailed:
        poller.total('gridpulse_poller_polls_total') -
        poller.total('gridpulse_poller_polls_total', { outcome: 'ok' }),
      stateRecords: poller.total('gridpulse_poller_records_produced_total'),
      events: Object.fromEntries(
        ['device.discovered', 'device.updated', 'device.disconnected'].map((type) => [
          type,
          differ.total('gridpulse_differ_events_out_total', { type }),
        ]),
      ),
      delivered: dispatcher.total('gridpulse_dispatcher_deliveries_total', {
        outcome: 'delivered',
      }),
      retrying: sumOf(dispatcher.samples, 'gridpulse_dispatcher_retries_pending'),
      dead: dispatcher.total('gridpulse_dispatcher_deliveries_total', { outcome: 'dead' }),
      received: receiver.total('gridpulse_receiver_events_total'),
      duplicates: receiver.total('gridpulse_receiver_duplicates_total'),
      // A latency quantile of the current process only: histograms do not add up across a
      // restart the way a total does.
      p99Seconds: histogramQuantile(
        dispatcher.samples,
        'gridpulse_dispatcher_delivery_latency_seconds',
        0.99,
      ),
      unreachable,
    };
  };
}

interface CounterView {
  samples: Sample[];
  /** The counter's sum over `where`, plus what earlier processes of the service counted. */
  total(name: string, where?: Record<string, string>): number;
}

interface CounterContinuity {
  read(samples: Sample[]): CounterView;
  lastRead(): CounterView;
}

const START_TIME = 'gridpulse_process_start_time_seconds';

function createCounterContinuity(): CounterContinuity {
  /** Per counter query: what the current process said last, and what earlier ones counted. */
  const counters = new Map<string, { last: number; base: number }>();
  let startTime: number | undefined;
  let view: CounterView = { samples: [], total: () => 0 };

  return {
    read(samples) {
      const start = sumOf(samples, START_TIME) || undefined;
      const restarted = start !== undefined && startTime !== undefined && start !== startTime;
      const current = (name: string, where: Record<string, string>) => sumOf(samples, name, where);
      const wentDown = [...counters].some(
        ([query, { last }]) => current(...parseQuery(query)) < last,
      );
      if (restarted || wentDown) {
        for (const counter of counters.values()) {
          counter.base += counter.last;
          counter.last = 0;
        }
      }
      startTime = start ?? startTime;
      view = {
        samples,
        total(name, where = {}) {
          const query = JSON.stringify([name, where]);
          const counter = counters.get(query) ?? { last: 0, base: 0 };
          counter.last = current(name, where);
          counters.set(query, counter);
          return counter.base + counter.last;
        },
      };
      return view;
    },
    lastRead: () => view,
  };
}

function parseQuery(query: string): [string, Record<string, string>] {
  return JSON.parse(query) as [string, Record<string, string>];
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
