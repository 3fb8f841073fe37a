import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { createAvroSerde } from '../../services/common/avro';
import { GridpulseError } from '../../services/common/errors';

/** What the serde says when the registry is down, hangs, or refuses: loopback servers stand in. */
describe('Avro serde against a failing registry', () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  function serdeAt(url: string) {
    return createAvroSerde(
      { registry: { url, username: undefined, password: undefined } } as never,
      { requestTimeoutMs: 300, registerAttempts: 2 },
    );
  }

  async function listen(server: Server): Promise<string> {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('reports a refused connection as GP_REGISTRY_UNAVAILABLE, retriable', async () => {
    // A port that was just free and is closed again: nothing listens there.
    const url = await listen(createServer());
    await new Promise((resolve) => servers.pop()!.close(resolve));

    const error = await serdeAt(url)
      .encode('probe.device-state.v1', 'device-state', {})
      .catch((err: unknown) => err);

    expect(error).toBeInstanceOf(GridpulseError);
    expect(error).toMatchObject({ code: 'GP_REGISTRY_UNAVAILABLE', retriable: true });
  });

  it('gives up on a registry that never answers, after one retry, instead of hanging', async () => {
    let connections = 0;
    const url = await listen(
      createServer((socket) => {
        connections += 1;
        sockets.push(socket); // accepted, never answered
      }),
    );

    const error = await serdeAt(url)
      .register('probe.device-state.v1', 'device-state')
      .catch((err: unknown) => err);

    expect(error).toMatchObject({ code: 'GP_REGISTRY_UNAVAILABLE', retriable: true });
    expect(connections).toBe(2);
  });

  it('reports a schema the registry refuses as GP_SCHEMA_REJECTED, not retried', async () => {
    let requests = 0;
    const url = await listen(
      createHttpServer((req, res) => {
        requests += 1;
        req.resume();
        res.writeHead(409, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
        res.end(JSON.stringify({ error_code: 409, message: 'incompatible schema' }));
      }),
    );

    const error = await serdeAt(url)
      .register('probe.device-state.v1', 'device-state')
      .catch((err: unknown) => err);

    expect(error).toMatchObject({ code: 'GP_SCHEMA_REJECTED', retriable: false });
    expect(error).toMatchObject({ context: { status: 409 } });
    // The client asks for the subject's config first, then registers once: no retry of a refusal.
    expect(requests).toBeLessThanOrEqual(2);
  });
});
