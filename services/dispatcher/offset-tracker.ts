/**
 * Which offsets of a consumer's partitions may be committed. Records are taken in offset order
 * and finish in any order; the committable offset is the first one not finished yet (or one past
 * the last taken), so a commit never covers work that is still under way.
 */
export class OffsetTracker {
  #partitions = new Map<string, PartitionState>();
  #inProgress = 0;

  /** Registers `offset` as taken; call `done()` on the result when its work is finished. */
  take(topic: string, partition: number, offset: string): { done(): void } {
    const key = `${topic}\u0000${partition}`;
    let state = this.#partitions.get(key);
    if (!state) {
      state = { topic, partition, entries: [], nextOffset: null, committed: null };
      this.#partitions.set(key, state);
    }
    const entry = { offset: BigInt(offset), finished: false };
    state.entries.push(entry);
    state.nextOffset = entry.offset + 1n;
    const owner = state;
    this.#inProgress += 1;
    const release = () => {
      this.#inProgress -= 1;
    };
    return {
      done() {
        if (entry.finished) return;
        entry.finished = true;
        release();
        while (owner.entries[0]?.finished) owner.entries.shift();
      },
    };
  }

  /** Offsets to commit now (those that moved since the last `markCommitted`). */
  committable(): Array<{ topic: string; partition: number; offset: string }> {
    const result: Array<{ topic: string; partition: number; offset: string }> = [];
    for (const state of this.#partitions.values()) {
      const offset = state.entries[0]?.offset ?? state.nextOffset;
      if (offset === null || offset === state.committed) continue;
      result.push({ topic: state.topic, partition: state.partition, offset: offset.toString() });
    }
    return result;
  }

  markCommitted(offsets: Array<{ topic: string; partition: number; offset: string }>): void {
    for (const { topic, partition, offset } of offsets) {
      const state = this.#partitions.get(`${topic}\u0000${partition}`);
      if (state) state.committed = BigInt(offset);
    }
  }

  /** Records taken but not finished, over all partitions (a reset does not forget them). */
  pending(): number {
    return this.#inProgress;
  }

  /**
   * Forgets everything, after a rebalance: work still under way finishes but no longer moves
   * a commit, and the partition's new owner starts from the last committed offset.
   */
  reset(): void {
    this.#partitions = new Map();
  }
}

interface PartitionState {
  topic: string;
  partition: number;
  entries: Array<{ offset: bigint; finished: boolean }>;
  nextOffset: bigint | null;
  committed: bigint | null;
}

/** Resolves once nothing taken is unfinished, or after `timeoutMs` (whatever is left is redone). */
export async function waitForPending(tracker: OffsetTracker, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (tracker.pending() > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
