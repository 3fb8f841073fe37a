import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import {
  decodeSigningSecret,
  generateSigningSecret,
  signWebhook,
} from '../../services/dispatcher/webhook-signer';
import { nextRetryDelayMs, parseRetryAfterMs } from '../../services/dispatcher/retry-policy';

interface Vector {
  id: string;
  scheme: string;
  secret: string;
  msg_id: string;
  timestamp: number;
  payload?: string;
  payload_repeat?: { char: string; count: number };
  expected_signature: string;
}

const fixtures = JSON.parse(
  readFileSync(path.join(__dirname, '../fixtures/standard-webhooks-vectors.json'), 'utf8'),
) as { vectors: Vector[] };
// The v1 (HMAC) vectors; v1a (ed25519) is the asymmetric scheme gridpulse does not use.
const hmacVectors = fixtures.vectors.filter((vector) => vector.scheme === 'v1');
const payloadOf = (vector: Vector) =>
  vector.payload ?? vector.payload_repeat!.char.repeat(vector.payload_repeat!.count);

describe('webhook-signer', () => {
  it.each(hmacVectors.map((vector) => [vector.id, vector] as const))(
    'reproduces vector %s',
    (_id, vector) => {
      const signature = signWebhook(
        [decodeSigningSecret(vector.secret)],
        vector.msg_id,
        vector.timestamp,
        payloadOf(vector),
      );
      expect(signature).toBe(vector.expected_signature);
    },
  );

  it('generates secrets of 24 to 64 random bytes that standardwebhooks accepts', () => {
    for (const size of [24, 32, 64]) {
      const secret = generateSigningSecret(size);
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      expect(decodeSigningSecret(secret)).toHaveLength(size);
      const timestamp = Math.floor(Date.now() / 1000);
      const signature = signWebhook([decodeSigningSecret(secret)], 'msg_1', timestamp, '{"a":1}');
      const headers = {
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signature,
      };
      expect(new Webhook(secret).verify('{"a":1}', headers)).toEqual({ a: 1 });
    }
    expect(() => generateSigningSecret(16)).toThrow(
      expect.objectContaining({ code: 'GP_DISPATCH_SECRET_INVALID' }),
    );
  });
});

describe('retry-policy', () => {
  const policy = {
    scheduleMs: [5_000, 30_000],
    jitterRatio: 0.2,
    throttleMinDelayMs: 60_000,
    retryAfterMaxMs: 3_600_000,
  };

  it('backs off within ±20% and gives up after the schedule', () => {
    expect(nextRetryDelayMs(policy, 1, { kind: 'other' }, () => 0)).toBe(4_000);
    expect(nextRetryDelayMs(policy, 1, { kind: 'other' }, () => 1)).toBe(6_000);
    expect(nextRetryDelayMs(policy, 2, { kind: 'other' }, () => 0.5)).toBe(30_000);
    expect(nextRetryDelayMs(policy, 3, { kind: 'other' })).toBeNull();
  });

  it('waits at least the throttle floor after a timeout or 429 and honours Retry-After within its cap', () => {
    expect(nextRetryDelayMs(policy, 1, { kind: 'timeout' }, () => 0.5)).toBe(60_000);
    expect(
      nextRetryDelayMs(policy, 1, { kind: 'throttled', retryAfterMs: 120_000 }, () => 0.5),
    ).toBe(120_000);
    expect(
      nextRetryDelayMs(policy, 1, { kind: 'other', retryAfterMs: 86_400_000 }, () => 0.5),
    ).toBe(3_600_000);
  });

  it('parses Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfterMs('7', 0)).toBe(7_000);
    expect(parseRetryAfterMs(new Date(10_000).toUTCString(), 0)).toBe(10_000);
    expect(parseRetryAfterMs('soon', 0)).toBeNull();
  });

  it('spans at least three days by default', () => {
    const { DISPATCHER_DEFAULTS, parseDurationMs } = jest.requireActual(
      '../../services/dispatcher/config',
    );
    const schedule = (DISPATCHER_DEFAULTS.DISPATCHER_RETRY_SCHEDULE as string)
      .split(',')
      .map((d) => parseDurationMs(d) as number);
    const worst = schedule.reduce((sum, ms) => sum + ms * 0.8, 0);
    expect(worst).toBeGreaterThanOrEqual(3 * 86_400_000);
  });
});
