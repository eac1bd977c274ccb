/** The per-lease write gate: one write in flight per lease item, renewals first, bounded waits. */
import { describe, expect, it } from 'vitest';
import { GatePriority, LeaseItemGate } from '../../consumer/leases/lease-item-gate.js';
import { FakeClock, flush } from '../support/fake-clock.js';

function deferred() {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('lease item gate', () => {
  it('never lets two writes of one lease overlap, while other leases go on', async () => {
    const gate = new LeaseItemGate(new FakeClock());
    let inFlight = 0;
    let most = 0;
    const log: string[] = [];
    const write = (key: string, name: string, done: Promise<void>) =>
      gate.run(key, GatePriority.WRITE, async () => {
        if (key === 'a') {
          inFlight++;
          most = Math.max(most, inFlight);
        }
        log.push(`start ${name}`);
        await done;
        log.push(`end ${name}`);
        if (key === 'a') inFlight--;
      });
    const first = deferred();
    const second = deferred();
    const other = deferred();
    const runs = [
      write('a', 'a1', first.promise),
      write('a', 'a2', second.promise),
      write('b', 'b1', other.promise),
    ];
    await flush();
    expect(log).toEqual(['start a1', 'start b1']);
    first.resolve();
    await flush();
    expect(log).toEqual(['start a1', 'start b1', 'end a1', 'start a2']);
    second.resolve();
    other.resolve();
    await Promise.all(runs);
    expect(most).toBe(1);
    expect(gate.pending('a')).toBe(0);
  });

  it('a renewal goes before the writes queued ahead of it', async () => {
    const gate = new LeaseItemGate(new FakeClock());
    const order: string[] = [];
    const inFlight = deferred();
    const first = gate.run('a', GatePriority.WRITE, async () => {
      order.push('tx1');
      await inFlight.promise;
    });
    const second = gate.run('a', GatePriority.WRITE, async () => {
      order.push('tx2');
    });
    const renewal = gate.run('a', GatePriority.RENEWAL, async () => {
      order.push('renewal');
    });
    await flush();
    inFlight.resolve();
    await Promise.all([first, second, renewal]);
    expect(order).toEqual(['tx1', 'renewal', 'tx2']);
  });

  it('a renewal stuck behind a hanging write is sent anyway after its longest wait', async () => {
    const clock = new FakeClock();
    const gate = new LeaseItemGate(clock);
    const hang = deferred();
    const write = gate.run('a', GatePriority.WRITE, () => hang.promise);
    let renewed = false;
    const renewal = gate.run(
      'a',
      GatePriority.RENEWAL,
      async () => {
        renewed = true;
      },
      { maxWaitMs: 1_000 },
    );
    await clock.advance(999);
    expect(renewed).toBe(false);
    await clock.advance(2);
    await renewal;
    expect(renewed).toBe(true);
    // The hanging write still holds the gate; the next write waits for it, not for the renewal that left.
    let next = false;
    const after = gate.run('a', GatePriority.WRITE, async () => {
      next = true;
    });
    await flush();
    expect(next).toBe(false);
    hang.resolve();
    await Promise.all([write, after]);
    expect(next).toBe(true);
  });

  it('an error in a write releases the gate', async () => {
    const gate = new LeaseItemGate(new FakeClock());
    await expect(
      gate.run('a', GatePriority.WRITE, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(gate.run('a', GatePriority.WRITE, async () => 'ok')).resolves.toBe('ok');
    expect(gate.pending('a')).toBe(0);
  });
});
