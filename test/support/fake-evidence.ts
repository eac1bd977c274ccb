/** FAKE peer evidence for unit tests of the lease loop: the test says who is running, leaving or gone. */
import {
  type GoneReason,
  type PeerChange,
  type PeerEvidence,
  PeerState,
} from '../../consumer/peers/peer-evidence.js';

export class FakeEvidence implements PeerEvidence {
  private current = true;
  private readonly states = new Map<string, PeerState>();
  private readonly listeners = new Set<(change: PeerChange) => void>();

  isCurrent(): boolean {
    return this.current;
  }

  stateOf(owner: string): PeerState | undefined {
    return this.states.get(owner);
  }

  onChange(listener: (change: PeerChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  set(owner: string, state: PeerState, reason?: GoneReason): void {
    this.states.set(owner, state);
    const change: PeerChange = {
      kind: 'state',
      owner,
      state,
      pod: owner,
      ...(state === PeerState.Gone && reason ? { reason } : {}),
    };
    for (const listener of this.listeners) listener(change);
  }

  /** Every worker running, as a watch that has just listed the pods reports them. */
  running(...owners: string[]): void {
    for (const owner of owners) this.states.set(owner, PeerState.Running);
  }

  setCurrent(current: boolean): void {
    this.current = current;
    for (const listener of this.listeners) listener({ kind: 'current', current });
  }
}
