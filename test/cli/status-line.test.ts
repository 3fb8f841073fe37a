import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LocalPipeline, PipelineService } from '../../services/cli/local-pipeline';
import { createStatusCollector } from '../../services/cli/status-line';

/**
 * The status line of `gridpulse start` reads each service's /metrics. The services here are
 * real HTTP servers on loopback whose exposition text the test sets, so that a restart (a new
 * process start time and counters from 0) and an outage can be staged.
 */
describe('the status line across service restarts', () => {
  const texts = new Map<PipelineService, string>();
  const servers: Server[] = [];
  const urls = new Map<PipelineService, string>();

  beforeAll(async () => {
    for (const service of ['poller', 'differ', 'dispatcher', 'webhook-receiver'] as const) {
      const server = createServer((req, res) => {
        const text = texts.get(service);
        if (text === undefined) res.writeHead(503).end();
        else res.writeHead(200, { 'content-type': 'text/plain' }).end(text);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      servers.push(server);
      urls.set(service, `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
    }
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  const pipeline = {
    processes: new Map(
      [...['poller', 'differ', 'dispatcher', 'webhook-receiver']].map((s) => [s, {}]),
    ),
    metricsUrl: (service: PipelineService) => urls.get(service)!,
  } as unknown as LocalPipeline;

  const poller = (startTime: number, ok: number, failed: number) =>
    [
      `gridpulse_process_start_time_seconds ${startTime}`,
      `gridpulse_poller_polls_total{oem="tesla",outcome="ok"} ${ok}`,
      `gridpulse_poller_polls_total{oem="tesla",outcome="failed"} ${failed}`,
      `gridpulse_poller_records_produced_total ${ok}`,
    ].join('\n');
  const differ = (startTime: number, updated: number) =>
    [
      `gridpulse_process_start_time_seconds ${startTime}`,
      `gridpulse_differ_events_out_total{type="device.updated"} ${updated}`,
      `gridpulse_differ_events_out_total{type="device.discovered"} 4`,
    ].join('\n');
  // The example receiver has no process metrics: its restart shows as counters going down.
  const receiver = (events: number) => `gridpulse_receiver_events_total ${events}`;

  it('keeps what a restarted service counted before, and holds figures through an outage', async () => {
    const collect = createStatusCollector(pipeline);
    texts.set('poller', poller(1000, 90, 10));
    texts.set('differ', differ(1000, 40));
    texts.set('dispatcher', 'gridpulse_dispatcher_deliveries_total{outcome="delivered"} 44');
    texts.set('webhook-receiver', receiver(44));
    expect(await collect()).toMatchObject({
      polls: 100,
      pollsFailed: 10,
      stateRecords: 90,
      events: { 'device.updated': 40, 'device.discovered': 4, 'device.disconnected': 0 },
      delivered: 44,
      received: 44,
      unreachable: [],
    });

    // The poller is restarting (no answer), the differ restarted and has counted 5 since
    // (more than nothing, less than before), the receiver restarted too.
    texts.delete('poller');
    texts.set('differ', differ(2000, 5));
    texts.set('webhook-receiver', receiver(3));
    expect(await collect()).toMatchObject({
      polls: 100,
      events: { 'device.updated': 45, 'device.discovered': 8 },
      received: 47,
      unreachable: ['poller'],
    });

    // The poller is back as a new process that already polled more than the old one had.
    texts.set('poller', poller(3000, 150, 0));
    texts.set('differ', differ(2000, 7));
    expect(await collect()).toMatchObject({
      polls: 250,
      pollsFailed: 10,
      stateRecords: 240,
      events: { 'device.updated': 47, 'device.discovered': 8 },
      received: 47,
      unreachable: [],
    });
  });
});
