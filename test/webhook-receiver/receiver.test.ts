import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { createEventRecord, toWebhookBody } from '../../services/common/events';
import {
  startReceiver,
  type ReceivedEvent,
  type ReceiverHandle,
} from '../../services/webhook-receiver/receiver';
import { createMemoryLogger } from '../support/kafka';

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

describe('the example webhook receiver', () => {
  const secret = newSecret();
  const received: ReceivedEvent[] = [];
  const memory = createMemoryLogger('webhook-receiver');
  let receiver: ReceiverHandle;

  beforeAll(async () => {
    receiver = await startReceiver({
      secrets: [secret],
      logger: memory.logger,
      onEvent: (e) => {
        received.push(e);
      },
    });
  });
  afterAll(() => receiver.stop());

  function signedPost(body: string, id: string, signingSecret = secret, url = receiver.url) {
    const timestamp = new Date();
    const signature = new Webhook(signingSecret).sign(id, timestamp, body);
    return request(url, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': signature,
      },
    });
  }

  const event = createEventRecord(
    'device.disconnected',
    { deviceId: 'tesla:1', workspaceId: 'w1' },
    { timestamp: Date.now(), deviceId: 'tesla:1', deviceType: 'battery' },
  );

  it('accepts a correctly signed event once and logs its type, device and id', async () => {
    const response = await signedPost(toWebhookBody(event), event.key);
    await response.body.dump();

    expect(response.statusCode).toBe(204);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      type: 'device.disconnected',
      key: event.key,
      webhookId: event.key,
    });
    const line = memory.lines().find((l) => l.msg === 'event received');
    expect(line).toMatchObject({
      type: 'device.disconnected',
      deviceId: 'tesla:1',
      webhookId: event.key,
    });
  });

  it('answers a redelivery with 200 and does not act on it twice', async () => {
    const response = await signedPost(toWebhookBody(event), event.key);
    await response.body.dump();

    expect(response.statusCode).toBe(200);
    expect(received).toHaveLength(1);
    expect(receiver.summary().duplicates).toBe(1);
  });

  it('rejects a request signed with another secret with 401', async () => {
    const other = createEventRecord('site.created', { id: 's9' }, { timestamp: Date.now() });
    const response = await signedPost(toWebhookBody(other), other.key, newSecret());
    await response.body.dump();

    expect(response.statusCode).toBe(401);
    expect(received.map((e) => e.key)).not.toContain(other.key);
    expect(receiver.summary().rejected).toBe(1);
  });

  it('rejects a body altered after signing', async () => {
    const other = createEventRecord('site.created', { id: 's10' }, { timestamp: Date.now() });
    const timestamp = new Date();
    const signature = new Webhook(secret).sign(other.key, timestamp, toWebhookBody(other));
    const response = await request(receiver.url, {
      method: 'POST',
      body: toWebhookBody(other).replace('s10', 's11'),
      headers: {
        'webhook-id': other.key,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': signature,
      },
    });
    await response.body.dump();
    expect(response.statusCode).toBe(401);
  });

  it('accepts either secret while a rotation overlaps', async () => {
    const next = newSecret();
    const rotating = await startReceiver({ secrets: [secret, next], logger: memory.logger });
    try {
      const other = createEventRecord('site.created', { id: 's12' }, { timestamp: Date.now() });
      const body = toWebhookBody(other);
      const timestamp = new Date();
      const both = `${new Webhook(next).sign(other.key, timestamp, body)} ${new Webhook(secret).sign(other.key, timestamp, body)}`;
      const response = await request(rotating.url, {
        method: 'POST',
        body,
        headers: {
          'webhook-id': other.key,
          'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
          'webhook-signature': both,
        },
      });
      await response.body.dump();
      expect(response.statusCode).toBe(204);
      expect(rotating.summary().received).toBe(1);
    } finally {
      await rotating.stop();
    }
  });

  it('answers 500 when its handler throws, and acts on the redelivery', async () => {
    let calls = 0;
    const flaky = await startReceiver({
      secrets: [secret],
      logger: memory.logger,
      onEvent: async () => {
        calls += 1;
        if (calls === 1) throw new Error('database unavailable');
      },
    });
    try {
      const other = createEventRecord('site.created', { id: 's13' }, { timestamp: Date.now() });
      const post = async () => {
        const response = await signedPost(toWebhookBody(other), other.key, secret, flaky.url);
        await response.body.dump();
        return response.statusCode;
      };

      expect(await post()).toBe(500);
      expect(flaky.summary()).toMatchObject({ received: 0, failed: 1, duplicates: 0 });
      expect(memory.lines().find((l) => l.msg === 'handler failed')).toMatchObject({
        webhookId: other.key,
        err: { message: 'database unavailable' },
      });

      expect(await post()).toBe(204);
      expect(calls).toBe(2);
      expect(flaky.summary()).toMatchObject({ received: 1, failed: 1, duplicates: 0 });
    } finally {
      await flaky.stop();
    }
  });

  it('refuses a signed body that is not JSON with 400', async () => {
    const id = 'msg_not_json';
    const response = await signedPost('{"type": "site.created"', id);
    await response.body.dump();

    expect(response.statusCode).toBe(400);
    expect(received.map((e) => e.webhookId)).not.toContain(id);
  });
});
