import {
  canonicalJson,
  computeEventKey,
  createEventRecord,
  toWebhookBody,
} from '../../services/common/events';

describe('canonicalJson', () => {
  it('gives equal values the same text whatever their key order', () => {
    const a = { b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } };
    const b = { a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
  });

  it('drops undefined members and refuses non-finite numbers', () => {
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/non-finite/);
  });
});

describe('computeEventKey', () => {
  it('is a stable 64-hex-digit hash that depends on type and data', () => {
    const key = computeEventKey('device.updated', { deviceId: 'd1', n: 1 });
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(computeEventKey('device.updated', { n: 1, deviceId: 'd1' })).toBe(key);
    expect(computeEventKey('device.discovered', { deviceId: 'd1', n: 1 })).not.toBe(key);
    expect(computeEventKey('device.updated', { deviceId: 'd1', n: 2 })).not.toBe(key);
  });

  it('separates identical data of different source records when given their ids as scope', () => {
    const data = { program: { manager: 'GridCo' } };
    const a = computeEventKey('enrollment.approved', data, 'en-1');

    expect(computeEventKey('enrollment.approved', data, 'en-1')).toBe(a);
    expect(computeEventKey('enrollment.approved', data, 'en-2')).not.toBe(a);
    expect(computeEventKey('enrollment.approved', data)).not.toBe(a);
  });
});

describe('toWebhookBody', () => {
  it('renders the catalogue envelope with an ISO timestamp and the data as stored', () => {
    const record = createEventRecord(
      'site.created',
      { id: 's1', siteName: 'Home' },
      { timestamp: Date.UTC(2024, 7, 22, 15, 54, 52, 13), workspaceId: 'w1' },
    );
    const body = JSON.parse(toWebhookBody(record));
    expect(Object.keys(body)).toEqual(['type', 'version', 'key', 'timestamp', 'data']);
    expect(body).toEqual({
      type: 'site.created',
      version: '0.0.1',
      key: computeEventKey('site.created', { id: 's1', siteName: 'Home' }),
      timestamp: '2024-08-22T15:54:52.013Z',
      data: { id: 's1', siteName: 'Home' },
    });
  });
});
