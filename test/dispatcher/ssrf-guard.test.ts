import { createWebhookClient } from '../../services/dispatcher/webhook-client';
import { assertDestinationUrl, isBlockedAddress } from '../../services/dispatcher/ssrf-guard';
import type { Destination } from '../../services/dispatcher/destination';
import { generateSigningSecret } from '../../services/dispatcher/webhook-signer';
import { startReceiver, type TestReceiver } from './harness';

describe('ssrf-guard', () => {
  let receiver: TestReceiver;

  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(() => receiver.close());

  it('treats loopback, private, link-local and mapped addresses as blocked', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.20.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
    ]) {
      expect([address, isBlockedAddress(address)]).toEqual([address, true]);
    }
    for (const address of ['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111']) {
      expect([address, isBlockedAddress(address)]).toEqual([address, false]);
    }
  });

  it('refuses a destination URL pointing at a private address with a clear error', async () => {
    const guard = { allowPrivateUrls: false };
    await expect(assertDestinationUrl('https://10.0.0.5/hook', guard)).rejects.toMatchObject({
      code: 'GP_DISPATCH_URL_REFUSED',
      message: expect.stringContaining('10.0.0.5 is private or internal'),
    });
    await expect(assertDestinationUrl('https://localhost/hook', guard)).rejects.toMatchObject({
      code: 'GP_DISPATCH_URL_REFUSED',
      message: expect.stringMatching(/localhost resolves to .*private or internal/),
    });
    await expect(assertDestinationUrl('http://example.com/hook', guard)).rejects.toMatchObject({
      code: 'GP_DISPATCH_URL_REFUSED',
      message: expect.stringContaining('must use https:'),
    });
    const resolve = async () => ['93.184.216.34'];
    await expect(
      assertDestinationUrl('https://hooks.example.com/x', { ...guard, resolve }),
    ).resolves.toBeInstanceOf(URL);
    await expect(
      assertDestinationUrl('http://127.0.0.1:1/x', { allowPrivateUrls: true }),
    ).resolves.toBeInstanceOf(URL);
  });

  it('refuses at delivery time to connect to a name that resolves to a private address', async () => {
    const client = createWebhookClient({ allowPrivateUrls: false, connectionsPerOrigin: 2 });
    const port = new URL(receiver.url).port;
    try {
      for (const url of [`https://localhost:${port}/hooks`, `https://127.0.0.1:${port}/hooks`]) {
        const result = await client.send(destinationAt(url), 'msg_1', '{}');
        expect(result).toMatchObject({ ok: false, errorKind: 'address-refused' });
      }
      expect(receiver.requests).toHaveLength(0);
    } finally {
      await client.close();
    }
  });

  it('delivers to loopback over plain http when private URLs are allowed', async () => {
    const client = createWebhookClient({ allowPrivateUrls: true, connectionsPerOrigin: 2 });
    try {
      const result = await client.send(destinationAt(receiver.url), 'msg_2', '{}');
      expect(result).toMatchObject({ ok: true, statusCode: 200 });
      expect(receiver.requests).toHaveLength(1);
    } finally {
      await client.close();
    }
  });
});

function destinationAt(url: string): Destination {
  const at = Date.now();
  return {
    id: 'dst_test',
    url,
    description: null,
    workspaceId: null,
    secrets: [{ secret: generateSigningSecret(), createdAt: at, expiresAt: null }],
    eventTypes: [],
    deviceTypes: [],
    headers: {},
    enabled: true,
    disabledReason: null,
    disabledAt: null,
    rateLimitPerSecond: null,
    timeoutMs: 2_000,
    createdAt: at,
    updatedAt: at,
    enabledAt: at,
    lastSuccessAt: null,
  };
}
