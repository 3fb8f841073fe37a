import { createRestartPolicy } from '../../services/cli/start';

describe('createRestartPolicy', () => {
  it('restarts after 1, 2, 4 and 8 s, and leaves a service stopped at its fifth crash', () => {
    const policy = createRestartPolicy();
    const decisions = [0, 1, 2, 3, 4].map((minute) => policy.recordCrash(minute * 50_000));

    expect(decisions).toEqual([
      { crashes: 1, delayMs: 1000 },
      { crashes: 2, delayMs: 2000 },
      { crashes: 3, delayMs: 4000 },
      { crashes: 4, delayMs: 8000 },
      { crashes: 5, delayMs: null },
    ]);
  });

  it('forgets crashes older than five minutes', () => {
    const policy = createRestartPolicy();
    for (let i = 0; i < 4; i += 1) policy.recordCrash(i * 1000);

    // The crashes at 0, 1 and 2 s are now older than five minutes: this is the second.
    expect(policy.recordCrash(5 * 60_000 + 2500)).toEqual({ crashes: 2, delayMs: 2000 });
    expect(policy.recordCrash(20 * 60_000)).toEqual({ crashes: 1, delayMs: 1000 });
  });
});
