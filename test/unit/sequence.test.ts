import { describe, expect, it } from 'vitest';
import {
  compareSequenceNumbers,
  isSequenceNumber,
  toOrderedSequence,
} from '../../core/vocabulary/sequence.js';

describe('sequence numbers', () => {
  it('compares decimal strings of different lengths as numbers, not strings', () => {
    expect('9' > '10').toBe(true); // the trap
    expect(compareSequenceNumbers('9', '10')).toBeLessThan(0);
    expect(compareSequenceNumbers('000000000000000000115', '99')).toBeGreaterThan(0);
    expect(
      compareSequenceNumbers(
        '49590338271490256608559692538361571095921575989136588898',
        '49590338271490256608559692538361571095921575989136588899',
      ),
    ).toBeLessThan(0);
    expect(compareSequenceNumbers('0007', '7')).toBe(0);
  });

  it('pads to a fixed width whose string order is numeric order', () => {
    const values = ['9', '10', '000000000000000000115', '4421584500000000017450439091', '1'];
    const numeric = [...values].sort((a, b) => compareSequenceNumbers(a, b));
    const byPadded = [...values].sort((a, b) => (toOrderedSequence(a) < toOrderedSequence(b) ? -1 : 1));
    expect(byPadded).toEqual(numeric);
    expect(toOrderedSequence('0')).toHaveLength(48);
    expect(toOrderedSequence('000123')).toBe(toOrderedSequence('123'));
  });

  it('rejects what is not a sequence number', () => {
    expect(isSequenceNumber('TRIM_HORIZON')).toBe(false);
    expect(isSequenceNumber('12a')).toBe(false);
    expect(() => toOrderedSequence('LATEST')).toThrow(TypeError);
    expect(() => toOrderedSequence('1'.repeat(49))).toThrow(RangeError);
  });
});
