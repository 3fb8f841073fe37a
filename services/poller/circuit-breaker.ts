export type CircuitState = 'closed' | 'half_open' | 'open';

/**
 * One per OEM, so a vendor outage is not hammered: after `failureThreshold` consecutive
 * failures the circuit opens and calls fail fast for `openMs`; then one probe is let through
 * (half-open): its success closes the circuit, its failure opens it again.
 */
export interface CircuitBreaker {
  /** False when the call must not be made now (open, or a probe already in flight). */
  tryAcquire(): boolean;
  onSuccess(): void;
  onFailure(): void;
  /** The caller gave up without an outcome (e.g. aborted); frees a half-open probe slot. */
  onAbandon(): void;
  state(): CircuitState;
}

export function createCircuitBreaker(options: {
  failureThreshold: number;
  openMs: number;
  onStateChange?: (state: CircuitState) => void;
  now?: () => number;
}): CircuitBreaker {
  const now = options.now ?? Date.now;
  let current: CircuitState = 'closed';
  let failures = 0;
  let openUntil = 0;
  let probeInFlight = false;

  const moveTo = (next: CircuitState) => {
    if (next === current) return;
    current = next;
    options.onStateChange?.(next);
  };

  return {
    tryAcquire() {
      if (current === 'closed') return true;
      if (current === 'open') {
        if (now() < openUntil) return false;
        moveTo('half_open');
      }
      if (probeInFlight) return false;
      probeInFlight = true;
      return true;
    },
    onSuccess() {
      failures = 0;
      probeInFlight = false;
      moveTo('closed');
    },
    onFailure() {
      failures += 1;
      if (current === 'half_open' || failures >= options.failureThreshold) {
        probeInFlight = false;
        openUntil = now() + options.openMs;
        moveTo('open');
      }
    },
    onAbandon() {
      probeInFlight = false;
    },
    state: () => current,
  };
}
