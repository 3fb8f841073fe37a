import { createRestartPolicy } from '../../services/cli/start';

describe('createRestartPolicy', () => {
  it('restarts after 1, 2, 4, 8 and 16 s, then leaves a service that keeps crashing stopped', () => {
    const policy = createRestartPolicy();
    const delays = [0, 1, 2, 3, 4, 5].map((minute) => policy.nextDelayMs(minute * 50_000));

    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, null]);
  });

  it('forgets crashes older than five minutes', () => {
    const policy = createRestartPolicy();
    for (let i = 0; i < 5; i += 1) policy.nextDelayMs(i * 1000);

    expect(policy.nextDelayMs(4 * 60_000)).toBeNull();
    // The crash at 0 s is now older than five minutes: four remain, so one more restart.
    expect(policy.nextDelayMs(5 * 60_000 + 500)).toBe(16_000);
    expect(policy.nextDelayMs(20 * 60_000)).toBe(1000);
  });
});
