import type { AdminApiHandle } from '../../services/admin-api/admin-api';
import type { EventRecord } from '../../services/common/events';
import { SAMPLE_ADDRESS } from '../support/device-state';
import { createMemoryLogger, waitFor, type TestKafka } from '../support/kafka';
import {
  ADMIN_API_TOPICS,
  auth,
  bodyOf,
  collectTopic,
  describeShape,
  http,
  KEY_A,
  KEY_B,
  readSeed,
  startTestApi,
  WS_A,
  setUpTestKafkaRetrying,
} from './support';

/** Members the seed's field tables list but its examples leave out; always present here. */
const TABLE_ONLY: Record<string, string[]> = {
  'enrollment.approved': ['data.customer.phone: string'],
};

describe('admin API', () => {
  let testKafka: TestKafka;
  let api: AdminApiHandle;
  let events: Awaited<ReturnType<typeof collectTopic<EventRecord>>>;
  const memory = createMemoryLogger('admin-api');

  beforeAll(async () => {
    testKafka = await setUpTestKafkaRetrying({
      partitions: 3,
      only: ADMIN_API_TOPICS,
    });
    api = await startTestApi(testKafka, memory.logger);
    events = await collectTopic<EventRecord>(testKafka, testKafka.topics['events.v1']);
  });

  afterAll(async () => {
    await events?.stop();
    await api?.stop();
    await testKafka?.close();
  });

  const post = (url: string, payload: unknown, key = KEY_A, headers: Record<string, string> = {}) =>
    http(api.url, { method: 'POST', url, payload, headers: { ...auth(key), ...headers } });
  const get = (url: string, key = KEY_A) =>
    http(api.url, { method: 'GET', url, headers: auth(key) });

  async function createCustomer(key = KEY_A) {
    const res = await post(
      '/customers',
      {
        referenceId: 'user-123456',
        email: 'bjones@example.com',
        firstName: 'Bob',
        lastName: 'Jones',
        phone: '+15551234567',
      },
      key === KEY_A ? KEY_A : key,
      key === KEY_A ? {} : {},
    );
    return res;
  }

  async function eventsOfType(type: string, count: number): Promise<EventRecord[]> {
    await waitFor(() => events.records.filter((r) => r.value?.type === type).length >= count, {
      timeoutMs: 15_000,
      what: `${count} ${type}`,
    });
    return events.records.filter((r) => r.value?.type === type).map((r) => r.value!);
  }

  function expectSeedShape(event: EventRecord) {
    const body = bodyOf(event);
    const seed = readSeed(event.type);
    const extras = TABLE_ONLY[event.type] ?? [];
    expect(describeShape(body).filter((line) => !extras.includes(line))).toEqual(
      describeShape(seed),
    );
    for (const extra of extras) expect(describeShape(body)).toContain(extra);
    expect(body.version).toBe(seed.version);
  }

  describe('auth', () => {
    test('refuses a request without a key, with a wrong key or a malformed header, saying nothing more', async () => {
      for (const headers of [{}, auth('wrong-key-0123456789abcdef'), { authorization: KEY_A }]) {
        const res = await http(api.url, { method: 'GET', url: '/customers', headers });
        expect(res.statusCode).toBe(401);
        expect(res.json()).toEqual({
          error: { code: 'GP_ADMIN_UNAUTHORIZED', message: 'unauthorized' },
        });
      }
    });

    test('serves the OpenAPI document listing the routes', async () => {
      const res = await get('/openapi.json');
      expect(res.statusCode).toBe(200);
      const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining([
          '/customers',
          '/sites',
          '/enrollments/{id}/approve',
          '/devices/{deviceId}/commands',
          '/commands/{id}',
          '/connections',
          '/destinations',
        ]),
      );
      expect(doc.paths['/customers']!.post).toMatchObject({
        requestBody: { content: { 'application/json': {} } },
      });
    });
  });

  describe('customers and sites', () => {
    test('creating a customer emits customer.created with the seed’s shape and version', async () => {
      const res = await createCustomer();
      expect(res.statusCode).toBe(201);
      const customer = res.json() as { id: string; workspaceId: string; organizationId: string };
      expect(customer).toMatchObject({
        workspaceId: WS_A,
        organizationId: 'org_a',
        email: 'bjones@example.com',
      });

      const [event] = (await eventsOfType('customer.created', 1)).filter(
        (e) => JSON.parse(e.data).id === customer.id,
      );
      expect(event).toBeDefined();
      expectSeedShape(event!);
      expect(event!.workspaceId).toBe(WS_A);
      expect(JSON.parse(event!.data)).toMatchObject({
        id: customer.id,
        referenceId: 'user-123456',
        phone: '+15551234567',
      });

      const list = (await get('/customers')).json() as { customers: Array<{ id: string }> };
      expect(list.customers.map((c) => c.id)).toContain(customer.id);
    });

    test('creating a site emits site.created with the seed’s shape and version', async () => {
      const res = await post('/sites', {
        referenceId: 'site-1',
        siteName: 'Empire State Building',
        address: SAMPLE_ADDRESS,
        longitude: -73.985428,
        latitude: 40.748817,
      });
      expect(res.statusCode).toBe(201);
      const site = res.json() as { id: string };
      const event = (await eventsOfType('site.created', 1)).find(
        (e) => JSON.parse(e.data).id === site.id,
      )!;
      expectSeedShape(event);
      expect(JSON.parse(event.data).location).toEqual({
        longitude: -73.985428,
        latitude: 40.748817,
      });
      expect((await get('/sites')).json().sites.map((s: { id: string }) => s.id)).toContain(
        site.id,
      );
    });
  });

  describe('enrollments', () => {
    test('approving twice emits one enrollment.approved with the customer and the program manager', async () => {
      const customer = (await createCustomer()).json() as { id: string };
      const created = await post('/enrollments', {
        customerId: customer.id,
        programManager: 'GridCo Energy Services',
      });
      expect(created.statusCode).toBe(201);
      const enrollment = created.json() as { id: string; status: string };
      expect(enrollment.status).toBe('pending');

      const first = await post(`/enrollments/${enrollment.id}/approve`, undefined);
      const second = await post(`/enrollments/${enrollment.id}/approve`, undefined);
      expect(first.statusCode).toBe(200);
      expect(second.statusCode).toBe(200);
      expect(second.json()).toMatchObject({
        status: 'approved',
        approvedAt: first.json().approvedAt,
      });

      const mine = () =>
        events.records.filter(
          (r) =>
            r.value?.type === 'enrollment.approved' &&
            JSON.parse(r.value.data).customer.id === customer.id,
        );
      await waitFor(() => mine().length >= 1, { timeoutMs: 15_000, what: 'enrollment.approved' });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(mine()).toHaveLength(1);
      const event = mine()[0]!.value!;
      expectSeedShape(event);
      expect(JSON.parse(event.data)).toMatchObject({
        workspaceId: WS_A,
        organizationId: 'org_a',
        customer: {
          id: customer.id,
          workspaceId: WS_A,
          organizationId: 'org_a',
          email: 'bjones@example.com',
        },
        program: { manager: 'GridCo Energy Services' },
      });
    });
  });

  describe('workspaces', () => {
    test('a key never sees or touches another workspace’s records', async () => {
      const customer = (await createCustomer()).json() as { id: string };
      const enrollment = (
        await post('/enrollments', { customerId: customer.id, programManager: 'X' })
      ).json() as { id: string };

      expect((await get(`/customers/${customer.id}`, KEY_B)).statusCode).toBe(404);
      expect((await get('/customers', KEY_B)).json().customers).toEqual([]);
      expect((await get(`/enrollments/${enrollment.id}`, KEY_B)).statusCode).toBe(404);
      expect(
        (await post(`/enrollments/${enrollment.id}/approve`, undefined, KEY_B)).statusCode,
      ).toBe(404);
      const borrowed = await post(
        '/enrollments',
        { customerId: customer.id, programManager: 'X' },
        KEY_B,
      );
      expect(borrowed.statusCode).toBe(400);
      expect(borrowed.json().error.field).toBe('body.customerId');
      expect((await get(`/enrollments/${enrollment.id}`)).json().status).toBe('pending');
    });
  });

  describe('validation', () => {
    async function customerOffsets(): Promise<string> {
      const offsets = await testKafka.admin.fetchTopicOffsets(testKafka.topics['customers.v1']);
      return offsets
        .map((o) => `${o.partition}:${o.high}`)
        .sort()
        .join(',');
    }

    test.each([
      [
        'an unknown member',
        { firstName: 'A', isAdmin: true },
        'body.isAdmin',
        'body.isAdmin is not allowed',
      ],
      [
        'a wrong type',
        { firstName: 42 },
        'body.firstName',
        'body.firstName must be string or null',
      ],
      [
        'a malformed email',
        { email: 'not-an-email' },
        'body.email',
        'body.email must match format "email"',
      ],
    ])(
      'answers %s with 400 naming the field, and writes nothing',
      async (_what, payload, field, message) => {
        const before = await customerOffsets();
        const res = await post('/customers', payload);
        expect(res.statusCode).toBe(400);
        expect(res.json().error).toEqual({ code: 'GP_ADMIN_INVALID_REQUEST', message, field });
        expect(await customerOffsets()).toBe(before);
      },
    );

    test('says a missing member is required, naming it once', async () => {
      const res = await post('/sites', { referenceId: 'no-name' });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toEqual({
        code: 'GP_ADMIN_INVALID_REQUEST',
        message: 'body.siteName is required',
        field: 'body.siteName',
      });
    });

    test('lists the allowed values of an enum member', async () => {
      const res = await post('/devices/tesla:123/commands', { operatingMode: 'turbo' });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toEqual({
        code: 'GP_ADMIN_INVALID_REQUEST',
        message: 'body.operatingMode must be one of self_consumption, autonomous, backup',
        field: 'body.operatingMode',
      });
    });

    test('answers invalid JSON and an oversized body with 400 and writes nothing', async () => {
      const before = await customerOffsets();
      const broken = await http(api.url, {
        method: 'POST',
        url: '/customers',
        headers: { ...auth(KEY_A), 'content-type': 'application/json' },
        payload: '{"firstName": "A",',
      });
      expect(broken.statusCode).toBe(400);
      expect(broken.json().error).toMatchObject({
        code: 'GP_ADMIN_INVALID_REQUEST',
        field: 'body',
      });

      const huge = await post('/customers', { firstName: 'x'.repeat(10_000) });
      expect(huge.statusCode).toBe(400);
      expect(huge.json().error).toMatchObject({ code: 'GP_ADMIN_BODY_TOO_LARGE', field: 'body' });
      expect(await customerOffsets()).toBe(before);
    });

    test('refuses a backup reserve outside 0–100 naming the field', async () => {
      const res = await post('/devices/tesla:123/commands', { backupReserve: 101 });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatchObject({
        code: 'GP_ADMIN_INVALID_REQUEST',
        field: 'body.backupReserve',
      });
    });
  });

  describe('errors fastify answers itself', () => {
    /** The API's own error body: only `error`, with a catalogued code; never fastify's. */
    function expectOwnShape(res: { headers: Record<string, unknown>; json(): any }, code: string) {
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const { error, ...rest } = res.json() as { error: Record<string, unknown> };
      expect(rest).toEqual({});
      expect(error).toMatchObject({ code, message: expect.any(String) });
      expect(['code', 'message', 'field']).toEqual(expect.arrayContaining(Object.keys(error)));
    }

    async function commandOffsets(): Promise<string> {
      const offsets = await testKafka.admin.fetchTopicOffsets(testKafka.topics['commands.v1']);
      return offsets.map((o) => `${o.partition}:${o.high}`).join(',');
    }

    test('answers an over-long path parameter with a 400 that does not echo the path', async () => {
      const before = await commandOffsets();
      const deviceId = `tesla:${'x'.repeat(5000)}`;
      const res = await post(`/devices/${deviceId}/commands`, { stormMode: true });
      expect(res.statusCode).toBe(400);
      expectOwnShape(res, 'GP_ADMIN_INVALID_REQUEST');
      expect(res.json()).toEqual({
        error: {
          code: 'GP_ADMIN_INVALID_REQUEST',
          message: 'a path parameter is longer than 128 characters',
          field: 'params',
        },
      });
      expect(res.body).not.toContain('xxxxxxxxxx');
      expect(await commandOffsets()).toBe(before);
    });

    test('takes a path parameter as long as the schemas allow (128 characters)', async () => {
      const longest = `tesla:${'9'.repeat(122)}`;
      const accepted = await post(`/devices/${longest}/commands`, { stormMode: true });
      expect(accepted.statusCode).toBe(202);
      expect(accepted.json().deviceId).toBe(longest);

      const tooLong = await get(`/customers/${'c'.repeat(129)}`);
      expect(tooLong.statusCode).toBe(400);
      expect(tooLong.json().error).toMatchObject({
        code: 'GP_ADMIN_INVALID_REQUEST',
        field: 'params',
      });
    });

    test('answers a path parameter that is not valid percent-encoding with its own 400', async () => {
      const res = await get('/customers/%E0%A4%A');
      expect(res.statusCode).toBe(400);
      expectOwnShape(res, 'GP_ADMIN_INVALID_REQUEST');
      expect(res.body).not.toContain('%E0');
    });

    test('answers a URL over node’s header limit with a 431 in the API’s shape', async () => {
      const res = await get(`/devices/tesla:${'x'.repeat(20_000)}/commands`);
      expect(res.statusCode).toBe(431);
      expectOwnShape(res, 'GP_ADMIN_INVALID_REQUEST');
      expect(res.body).not.toContain('xxxxxxxxxx');
    });

    test('answers an unknown route, and an unknown method of a known route, with 404', async () => {
      // fastify has no 405: a method a path does not have is an unknown route.
      for (const method of ['GET', 'DELETE', 'PUT']) {
        const url = method === 'GET' ? '/no-such-route' : '/customers';
        const res = await http(api.url, { method, url, headers: auth(KEY_A) });
        expect(res.statusCode).toBe(404);
        expect(res.json()).toEqual({
          error: { code: 'GP_ADMIN_NOT_FOUND', message: 'no such route' },
        });
      }
    });

    test('answers a body that is not JSON (text/plain included) with 415', async () => {
      for (const contentType of ['text/plain', 'application/xml']) {
        const res = await post('/customers', '<firstName>A</firstName>', KEY_A, {
          'content-type': contentType,
        });
        expect(res.statusCode).toBe(415);
        expect(res.json()).toEqual({
          error: {
            code: 'GP_ADMIN_INVALID_REQUEST',
            message: 'body must be application/json',
            field: 'headers.content-type',
          },
        });
      }
    });
  });

  describe('idempotency', () => {
    test('a retried POST with the same Idempotency-Key returns the first result and creates once', async () => {
      const headers = { 'idempotency-key': 'retry-me-1' };
      const payload = { firstName: 'Idem', email: 'idem@example.com' };
      const [first, concurrent] = await Promise.all([
        post('/customers', payload, KEY_A, headers),
        post('/customers', payload, KEY_A, headers),
      ]);
      const retry = await post('/customers', payload, KEY_A, headers);
      expect(first.statusCode).toBe(201);
      expect(concurrent.json().id).toBe(first.json().id);
      expect(retry.json().id).toBe(first.json().id);
      expect(retry.headers['idempotent-replayed']).toBe('true');

      // Another workspace using the same key gets its own customer.
      const other = await post(
        '/customers',
        { ...payload, organizationId: 'org_b' },
        KEY_B,
        headers,
      );
      expect(other.json().id).not.toBe(first.json().id);

      await waitFor(() =>
        events.records.some(
          (r) =>
            r.value?.type === 'customer.created' && JSON.parse(r.value.data).id === first.json().id,
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      const created = events.records.filter(
        (r) =>
          r.value?.type === 'customer.created' && JSON.parse(r.value.data).firstName === 'Idem',
      );
      expect(created).toHaveLength(2); // one per workspace
    });
  });

  describe('idempotency with another request', () => {
    async function topicOffsets(topic: 'customers.v1' | 'commands.v1'): Promise<string> {
      const offsets = await testKafka.admin.fetchTopicOffsets(testKafka.topics[topic]);
      return offsets.map((o) => `${o.partition}:${o.high}`).join(',');
    }

    /**
     * The offsets once the previous write is complete: the API answers when its transaction
     * commits, and the broker writes the commit marker (which moves these offsets) just after.
     */
    async function settledOffsets(topic: 'customers.v1' | 'commands.v1'): Promise<string> {
      let last = await topicOffsets(topic);
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const current = await topicOffsets(topic);
        if (current === last) return current;
        last = current;
      }
    }

    const reused = {
      code: 'GP_ADMIN_IDEMPOTENCY_KEY_REUSED',
      message: 'this Idempotency-Key was already used with a different request',
      field: 'headers.idempotency-key',
    };

    test('answers a reused key with a different body with 422 and writes nothing', async () => {
      const headers = { 'idempotency-key': 'reuse-customer-1' };
      const first = await post(
        '/customers',
        { firstName: 'Ada', email: 'ada@example.com' },
        KEY_A,
        headers,
      );
      expect(first.statusCode).toBe(201);

      const before = await settledOffsets('customers.v1');
      const changed = await post(
        '/customers',
        { firstName: 'Ada', email: 'other@example.com' },
        KEY_A,
        headers,
      );
      expect(changed.statusCode).toBe(422);
      expect(changed.json()).toEqual({ error: reused });
      expect(await topicOffsets('customers.v1')).toBe(before);

      // The same JSON with its members in another order is the same request.
      const reordered = await post(
        '/customers',
        { email: 'ada@example.com', firstName: 'Ada' },
        KEY_A,
        headers,
      );
      expect(reordered.statusCode).toBe(201);
      expect(reordered.json().id).toBe(first.json().id);
      expect(reordered.headers['idempotent-replayed']).toBe('true');
    });

    test('answers a reused key for another device with 422', async () => {
      const headers = { 'idempotency-key': 'reuse-command-1' };
      const first = await post('/devices/tesla:5551/commands', { stormMode: true }, KEY_A, headers);
      expect(first.statusCode).toBe(202);

      const before = await settledOffsets('commands.v1');
      const otherDevice = await post(
        '/devices/tesla:5552/commands',
        { stormMode: true },
        KEY_A,
        headers,
      );
      expect(otherDevice.statusCode).toBe(422);
      expect(otherDevice.json().error).toEqual(reused);
      expect(await topicOffsets('commands.v1')).toBe(before);
    });

    test('refuses the second of two concurrent requests with one key and different bodies', async () => {
      const headers = { 'idempotency-key': 'reuse-concurrent-1' };
      const answers = await Promise.all([
        post('/sites', { siteName: 'Concurrent A' }, KEY_A, headers),
        post('/sites', { siteName: 'Concurrent B' }, KEY_A, headers),
      ]);
      expect(answers.map((res) => res.statusCode).sort()).toEqual([201, 422]);
      const sites = (await get('/sites')).json().sites as Array<{ siteName: string }>;
      expect(sites.filter((site) => site.siteName.startsWith('Concurrent'))).toHaveLength(1);
    });

    test('refuses a reused key with a different body for keys kept in memory (destinations)', async () => {
      const headers = { 'idempotency-key': 'reuse-destination-1' };
      const first = await post('/destinations', { url: 'http://127.0.0.1:9/a' }, KEY_A, headers);
      expect(first.statusCode).toBe(201);

      const changed = await post('/destinations', { url: 'http://127.0.0.1:9/b' }, KEY_A, headers);
      expect(changed.statusCode).toBe(422);
      expect(changed.json().error).toEqual(reused);

      const retry = await post('/destinations', { url: 'http://127.0.0.1:9/a' }, KEY_A, headers);
      expect(retry.statusCode).toBe(201);
      expect(retry.json().id).toBe(first.json().id);
    });
  });

  describe('restart', () => {
    test('a fresh API rebuilds its view from the topics and still honours an earlier Idempotency-Key', async () => {
      const headers = { 'idempotency-key': 'before-restart' };
      const first = await post('/sites', { siteName: 'Before restart' }, KEY_A, headers);
      expect(first.statusCode).toBe(201);

      const restarted = await startTestApi(testKafka, createMemoryLogger('admin-api').logger);
      try {
        const retry = await http(restarted.url, {
          method: 'POST',
          url: '/sites',
          payload: { siteName: 'Before restart' },
          headers: { ...auth(KEY_A), ...headers },
        });
        expect(retry.statusCode).toBe(201);
        expect(retry.json().id).toBe(first.json().id);
        expect(retry.headers['idempotent-replayed']).toBe('true');
        // The request's fingerprint came back from the topic too.
        const changed = await http(restarted.url, {
          method: 'POST',
          url: '/sites',
          payload: { siteName: 'After restart' },
          headers: { ...auth(KEY_A), ...headers },
        });
        expect(changed.statusCode).toBe(422);
        expect(changed.json().error.code).toBe('GP_ADMIN_IDEMPOTENCY_KEY_REUSED');
        const sites = (
          await http(restarted.url, { method: 'GET', url: '/sites', headers: auth(KEY_A) })
        ).json().sites as Array<{ id: string }>;
        expect(sites.filter((site) => site.id === first.json().id)).toHaveLength(1);
        expect(restarted.view.customers.size).toBe(api.view.customers.size);
      } finally {
        await restarted.stop();
      }
    });
  });

  describe('commands', () => {
    test('a command for an unknown device ends as command.failed with the seed’s shape', async () => {
      const res = await post('/devices/tesla:999999/commands', { stormMode: true });
      expect(res.statusCode).toBe(202);
      const command = res.json() as { id: string; status: string; error: { message: string } };
      expect(command).toMatchObject({ status: 'failed', error: { message: 'device not found' } });
      expect((await get(`/commands/${command.id}`)).json().status).toBe('failed');
      expect((await get(`/commands/${command.id}`, KEY_B)).statusCode).toBe(404);

      // Earlier tests sent commands too: wait for this command's own event.
      const isMine = (e: EventRecord | null) =>
        e?.type === 'command.failed' && JSON.parse(e.data).commandId === command.id;
      await waitFor(() => events.records.some((r) => isMine(r.value)), {
        timeoutMs: 15_000,
        what: 'the command’s command.failed',
      });
      const event = events.records.find((r) => isMine(r.value))!.value!;
      expectSeedShape(event);
      expect(event.deviceId).toBe('tesla:999999');
    });
  });

  describe('secrets', () => {
    const clientSecret = 'cs-SUPER-SECRET-VALUE-42';
    const refreshToken = 'rt-SUPER-SECRET-VALUE-43';

    test('connection credentials are encrypted at rest and never returned or logged', async () => {
      const res = await post('/connections', {
        oem: 'tesla',
        id: 'conn-secret-test',
        customerId: 'cus_1',
        siteId: 'sit_1',
        credentials: { clientId: 'client-1', clientSecret, refreshToken },
      });
      expect(res.statusCode).toBe(201);
      expect(res.json()).toMatchObject({
        id: 'conn-secret-test',
        credentialsSet: ['clientId', 'clientSecret', 'refreshToken'],
      });

      const rotated = await post('/connections/conn-secret-test/credentials', {
        credentials: { refreshToken: `${refreshToken}-2` },
      });
      expect(rotated.statusCode).toBe(200);
      await post('/connections/conn-secret-test/disable', undefined);
      const listed = await get('/connections');
      expect(listed.json().connections[0]).toMatchObject({
        enabled: false,
        credentialsSet: ['refreshToken'],
      });

      const records = await collectTopic<{ credentialsFormat: string; credentials: Buffer }>(
        testKafka,
        testKafka.topics['connections.v1'],
      );
      await waitFor(() => records.records.length >= 3);
      await records.stop();
      for (const { value } of records.records) {
        expect(value!.credentialsFormat).toBe('aes-256-gcm:k1');
        expect(value!.credentials.toString('latin1')).not.toContain('SUPER-SECRET');
      }

      for (const text of [res.body, rotated.body, listed.body, JSON.stringify(memory.lines())]) {
        expect(text).not.toContain('SUPER-SECRET');
      }
    });

    test('a destination’s secret is shown at creation and rotation only, and never logged', async () => {
      const created = await post('/destinations', {
        url: 'http://127.0.0.1:9/hook',
        headers: { authorization: 'Bearer receiver-SUPER-SECRET' },
      });
      expect(created.statusCode).toBe(201);
      const { id, secret } = created.json() as { id: string; secret: string };
      expect(secret).toMatch(/^whsec_/);

      const shown = await get(`/destinations/${id}`);
      const listed = await get('/destinations');
      expect(shown.json()).toMatchObject({ id, headerNames: ['authorization'] });
      for (const res of [shown, listed]) {
        expect(res.body).not.toContain(secret);
        expect(res.body).not.toContain('SUPER-SECRET');
      }
      expect((await get(`/destinations/${id}`, KEY_B)).statusCode).toBe(404);
      expect((await get('/destinations', KEY_B)).json().destinations).toEqual([]);

      const rotated = await post(`/destinations/${id}/rotate-secret`, undefined);
      expect(rotated.json().secret).toMatch(/^whsec_/);
      expect(rotated.json().secret).not.toBe(secret);
      expect(JSON.stringify(memory.lines())).not.toContain(secret.slice(6));
    });
  });
});
