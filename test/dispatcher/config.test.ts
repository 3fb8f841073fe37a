import {
  formatDurationMs,
  loadDispatcherConfig,
  parseDurationMs,
} from '../../services/dispatcher/config';

describe('dispatcher config durations', () => {
  it('formats a duration in the largest unit that divides it', () => {
    expect(formatDurationMs(5 * 86_400_000)).toBe('5d');
    expect(formatDurationMs(36 * 3_600_000)).toBe('36h');
    expect(formatDurationMs(90_000)).toBe('90s');
    expect(formatDurationMs(3_000)).toBe('3s');
    expect(formatDurationMs(1_500)).toBe('1500ms');
    expect(formatDurationMs(0)).toBe('0ms');
  });

  it('formats what parseDurationMs reads back to the same milliseconds', () => {
    for (const ms of [250, 5_000, 120_000, 43_200_000, 5 * 86_400_000]) {
      expect(parseDurationMs(formatDurationMs(ms))).toBe(ms);
    }
  });
});

describe('dispatcher config limits', () => {
  it('refuses a session timeout the broker would refuse and a commit interval of 0', () => {
    expect(() =>
      loadDispatcherConfig({ DISPATCHER_SESSION_TIMEOUT: '1ms', DISPATCHER_COMMIT_INTERVAL: '0s' }),
    ).toThrow(
      expect.objectContaining({
        code: 'GP_CONFIG_INVALID',
        context: { keys: ['DISPATCHER_COMMIT_INTERVAL', 'DISPATCHER_SESSION_TIMEOUT'] },
      }),
    );
    expect(loadDispatcherConfig({ DISPATCHER_SESSION_TIMEOUT: '6s' }).sessionTimeoutMs).toBe(6_000);
  });
});
