import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { startDispatcher, type DispatcherHandle } from '../../services/dispatcher/start-dispatcher';
import { createMemoryLogger, waitFor, type TestKafka } from '../support/kafka';
import {
  createDispatcherTestConfig,
  createEventWriter,
  makeEvent,
  setUpDispatcherKafka,
  startReceiver,
  type EventWriter,
  type TestReceiver,
} from './harness';

/**
 * A TCP proxy on loopback in front of the real registry, which the test takes down and brings
 * back on the same port: the dispatcher sees connections refused, then the registry again.
 */
async function startRegistryProxy(target: URL) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const up = async () => {
    server = createServer((client) => {
      const upstream = createConnection(Number(target.port), target.hostname);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  const down = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server?.close(resolve));
  };
  await up();
  const url = new URL(target.href);
  url.port = String(port);
  return { url: url.href.replace(/\/$/, ''), up, down };
}

describe('dispatcher while the schema registry is unreachable', () => {
  let testKafka: TestKafka;
  let writer: EventWriter;
  let dispatcher: DispatcherHandle | undefined;
  let receiver: TestReceiver | undefined;
  let proxy: Awaited<ReturnType<typeof startRegistryProxy>>;

  beforeAll(async () => {
    testKafka = await setUpDispatcherKafka();
    writer = await createEventWriter(testKafka);
    proxy = await startRegistryProxy(new URL(testKafka.config.registry.url));
  });

  afterAll(async () => {
    await dispatcher?.stop();
    await receiver?.close();
    await writer?.close();
    await proxy?.down();
    await testKafka?.close();
  });

  it('delivers an event it could not read during the outage, once the registry is back', async () => {
    const registry = new Registry();
    const memory = createMemoryLogger('dispatcher');
    const config = createDispatcherTestConfig(testKafka);
    dispatcher = await startDispatcher({
      config: {
        ...config,
        connectivity: {
          ...config.connectivity,
          registry: { ...config.connectivity.registry, url: proxy.url },
        },
      },
      logger: memory.logger,
      registry,
    });
    receiver = await startReceiver();
    const destination = await dispatcher.manager.create({ url: receiver.url });
    await waitFor(() => dispatcher!.destinations.get(destination.id) !== undefined, {
      what: 'destination loaded',
    });

    // The dispatcher has read no event yet, so the event schema's id is not in its cache.
    await proxy.down();
    const event = makeEvent();
    await writer.send([event]); // the writer talks to the registry directly
    await waitFor(
      () =>
        memory.lines().some((line) => /^event (not readable yet|skipped)/.test(String(line.msg))),
      { what: 'the dispatcher to meet the outage', timeoutMs: 30_000 },
    );
    await proxy.up();

    await waitFor(
      () => receiver!.requests.some((request) => request.headers['webhook-id'] === event.key),
      { what: 'the event delivered after the outage', timeoutMs: 60_000 },
    );
    const events = await registry.getSingleMetric('gridpulse_dispatcher_events_total')!.get();
    expect(events.values.filter((v) => v.labels.outcome === 'undecodable')).toEqual([]);
    expect(memory.lines().filter((line) => line.msg === 'event skipped')).toEqual([]);
  }, 120_000);
});
