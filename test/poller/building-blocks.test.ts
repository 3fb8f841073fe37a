import { createCircuitBreaker } from '../../services/poller/circuit-breaker';
import {
  describeConnection,
  fromConnectionRecord,
  toConnectionRecord,
  type Connection,
} from '../../services/poller/connection';
import { parseRetryAfterMs } from '../../services/poller/oem-http';
import { slotOf } from '../../services/poller/scheduler';

describe('createCircuitBreaker', () => {
  it('opens after the threshold, lets one probe through after the open period, and closes on success', () => {
    let now = 0;
    const states: string[] = [];
    const breaker = createCircuitBreaker({
      failureThreshold: 3,
      openMs: 1_000,
      now: () => now,
      onStateChange: (state) => states.push(state),
    });

    breaker.onFailure();
    breaker.onFailure();
    expect(breaker.tryAcquire()).toBe(true);
    breaker.onFailure();
    expect(breaker.state()).toBe('open');
    expect(breaker.tryAcquire()).toBe(false);

    now = 1_000;
    expect(breaker.tryAcquire()).toBe(true); // the probe
    expect(breaker.tryAcquire()).toBe(false); // only one at a time
    breaker.onSuccess();
    expect(breaker.state()).toBe('closed');
    expect(states).toEqual(['open', 'half_open', 'closed']);
  });

  it('reopens when the half-open probe fails', () => {
    let now = 0;
    const breaker = createCircuitBreaker({ failureThreshold: 1, openMs: 500, now: () => now });
    breaker.onFailure();
    now = 500;
    expect(breaker.tryAcquire()).toBe(true);
    breaker.onFailure();
    expect(breaker.state()).toBe('open');
    expect(breaker.tryAcquire()).toBe(false);
  });
});

describe('parseRetryAfterMs', () => {
  it('reads delta-seconds and HTTP dates', () => {
    const now = Date.UTC(2024, 0, 1, 0, 0, 0);
    expect(parseRetryAfterMs('2', now)).toBe(2_000);
    expect(parseRetryAfterMs('Mon, 01 Jan 2024 00:00:05 GMT', now)).toBe(5_000);
    expect(parseRetryAfterMs(undefined, now)).toBeUndefined();
    expect(parseRetryAfterMs('soon', now)).toBeUndefined();
  });
});

describe('slotOf', () => {
  it('gives a connection the same slot every time and spreads a fleet across the interval', () => {
    expect(slotOf('conn-a', 300)).toBe(slotOf('conn-a', 300));
    const slots = new Set(Array.from({ length: 1_000 }, (_, i) => slotOf(`conn-${i}`, 300)));
    expect(slots.size).toBeGreaterThan(250); // 1000 ids over 300 slots: nearly all used
  });
});

describe('connection record', () => {
  const connection: Connection = {
    connectionId: 'c1',
    oem: 'tesla',
    enabled: true,
    credentials: {
      clientId: 'id',
      clientSecret: 's3cret',
      refreshToken: 'rt-123',
      accessTokenExpiresAt: 5,
    },
    workspaceId: 'w',
    organizationId: 'o',
    customer: {
      id: 'cu',
      referenceId: null,
      email: null,
      firstName: null,
      lastName: null,
      phone: null,
    },
    site: { id: 'si', name: null, address: null, longitude: null, latitude: null },
    createdAt: 1,
    updatedAt: 2,
  };

  it('round-trips with all credentials in one opaque field', () => {
    const record = toConnectionRecord(connection);
    expect(record.credentialsFormat).toBe('json');
    expect(Buffer.isBuffer(record.credentials)).toBe(true);
    expect(fromConnectionRecord(record)).toEqual(connection);
  });

  it('describes a connection by the names of its secrets, never their values', () => {
    const text = JSON.stringify(describeConnection(connection));
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('rt-123');
    expect(describeConnection(connection).credentialsSet).toEqual([
      'clientId',
      'clientSecret',
      'refreshToken',
    ]);
  });

  it('refuses a credentials format it cannot read', () => {
    expect(() =>
      fromConnectionRecord({ ...toConnectionRecord(connection), credentialsFormat: 'aes' }),
    ).toThrow(
      expect.objectContaining({
        code: 'GP_CREDENTIALS_UNDECRYPTABLE',
        context: expect.objectContaining({ reason: 'unknown_format' }),
      }),
    );
  });

  it('round-trips encrypted under a key, and refuses the record without it', () => {
    const key = { id: 'k9', key: Buffer.alloc(32, 3) };
    const record = toConnectionRecord(connection, key);
    expect(record.credentialsFormat).toBe('aes-256-gcm:k9');
    expect(record.credentials.includes('rt-123')).toBe(false);
    expect(fromConnectionRecord(record, key)).toEqual(connection);
    expect(() => fromConnectionRecord(record)).toThrow(
      expect.objectContaining({
        code: 'GP_CREDENTIALS_UNDECRYPTABLE',
        context: expect.objectContaining({ reason: 'no_key' }),
      }),
    );
  });
});
