/** The strict layer's rule switches: the flag grammar, and the checks on switches set over HTTP. */
import { describe, expect, it } from 'vitest';
import {
  ALL_RULES_OFF,
  ALL_RULES_ON,
  formatRuleSwitches,
  parseRuleSwitches,
  RuleSwitchesError,
  withSwitches,
} from '../../local/aws-rules/switches.js';

describe('parseRuleSwitches', () => {
  it('reads all, none, lists of rules and rules switched off', () => {
    expect(parseRuleSwitches('all')).toEqual(ALL_RULES_ON);
    expect(parseRuleSwitches('none')).toEqual(ALL_RULES_OFF);
    expect(parseRuleSwitches('-transactionConflicts')).toEqual({
      ...ALL_RULES_ON,
      transactionConflicts: false,
    });
    expect(parseRuleSwitches('transactionConflicts, getRecordsRate')).toEqual({
      ...ALL_RULES_OFF,
      transactionConflicts: true,
      getRecordsRate: true,
    });
    expect(parseRuleSwitches('none,+readersPerShard')).toEqual({ ...ALL_RULES_OFF, readersPerShard: true });
    expect(parseRuleSwitches('ALL,-DescribeStreamRate')).toEqual({
      ...ALL_RULES_ON,
      describeStreamRate: false,
    });
  });

  it('says what is wrong with a bad flag', () => {
    expect(() => parseRuleSwitches('transactions')).toThrow(RuleSwitchesError);
    expect(() => parseRuleSwitches('transactions')).toThrow(
      /Unknown rule "transactions".*transactionConflicts/,
    );
    expect(() => parseRuleSwitches(' , ')).toThrow(/No rule switches given/);
  });

  it('round-trips through formatRuleSwitches', () => {
    for (const text of ['all', 'none', 'all,-transactionConflicts', 'all,-getRecordsRate,-readersPerShard']) {
      expect(formatRuleSwitches(parseRuleSwitches(text))).toBe(text);
    }
  });
});

describe('withSwitches', () => {
  it('lays a partial change over the switches and refuses anything else', () => {
    expect(withSwitches(ALL_RULES_ON, { readersPerShard: false })).toEqual({
      ...ALL_RULES_ON,
      readersPerShard: false,
    });
    expect(() => withSwitches(ALL_RULES_ON, { readers: false })).toThrow(/Unknown rule "readers"/);
    expect(() => withSwitches(ALL_RULES_ON, { readersPerShard: 'off' })).toThrow(/true or false/);
    expect(() => withSwitches(ALL_RULES_ON, [])).toThrow(RuleSwitchesError);
  });
});
