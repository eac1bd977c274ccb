/**
 * Which of the strict layer's rules are on. Every rule is on unless switched off, so a run that says
 * nothing gets AWS's behaviour and a comparison run names what it leaves out.
 */

export const RULE_NAMES = [
  'transactionConflicts',
  'getRecordsRate',
  'readersPerShard',
  'describeStreamRate',
  'tableUpdates',
  'iam',
] as const;

export type RuleName = (typeof RULE_NAMES)[number];

export type RuleSwitches = Record<RuleName, boolean>;

export const ALL_RULES_ON: RuleSwitches = Object.freeze({
  transactionConflicts: true,
  getRecordsRate: true,
  readersPerShard: true,
  describeStreamRate: true,
  tableUpdates: true,
  iam: true,
});

export const ALL_RULES_OFF: RuleSwitches = Object.freeze({
  transactionConflicts: false,
  getRecordsRate: false,
  readersPerShard: false,
  describeStreamRate: false,
  tableUpdates: false,
  iam: false,
});

export class RuleSwitchesError extends Error {
  override readonly name = 'RuleSwitchesError';
}

export function isRuleName(name: string): name is RuleName {
  return (RULE_NAMES as readonly string[]).includes(name);
}

/** All on, with `partial` laid over; throws on names that are not rules or values that are not booleans. */
export function withSwitches(base: RuleSwitches, partial: unknown): RuleSwitches {
  if (partial === undefined) return { ...base };
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) {
    throw new RuleSwitchesError(`Rule switches must be an object like {"transactionConflicts": false}`);
  }
  const next = { ...base };
  for (const [name, value] of Object.entries(partial)) {
    if (!isRuleName(name))
      throw new RuleSwitchesError(`Unknown rule "${name}". Rules: ${RULE_NAMES.join(', ')}.`);
    if (typeof value !== 'boolean') {
      throw new RuleSwitchesError(
        `Rule "${name}" must be switched with true or false, got ${JSON.stringify(value)}.`,
      );
    }
    next[name] = value;
  }
  return next;
}

/**
 * Reads switches from a flag or an environment variable: comma-separated words, case-insensitive.
 *
 * - `all` / `none` set every rule (and may be followed by changes: `none,getRecordsRate`);
 * - `name` or `+name` switches one on, `-name` switches it off;
 * - without a leading `all`/`none`, a list that starts with `-name` starts from all on
 *   (`-transactionConflicts` = everything but conflicts), one that starts with a name from all off
 *   (`transactionConflicts,getRecordsRate` = just those two).
 *
 * ```ts
 * parseRuleSwitches('-transactionConflicts'); // { transactionConflicts: false, getRecordsRate: true, ... }
 * ```
 */
export function parseRuleSwitches(text: string): RuleSwitches {
  const words = text
    .split(',')
    .map((word) => word.trim())
    .filter((word) => word !== '');
  if (words.length === 0) {
    throw new RuleSwitchesError(
      `No rule switches given. Use "all", "none", a list of rules, or "-rule" to switch one off. Rules: ${RULE_NAMES.join(', ')}.`,
    );
  }
  const first = words[0] ?? '';
  let switches: RuleSwitches = { ...(first.startsWith('-') ? ALL_RULES_ON : ALL_RULES_OFF) };
  for (const word of words) {
    const lower = word.toLowerCase();
    if (lower === 'all') {
      switches = { ...ALL_RULES_ON };
      continue;
    }
    if (lower === 'none') {
      switches = { ...ALL_RULES_OFF };
      continue;
    }
    const on = !word.startsWith('-');
    const bare = word.replace(/^[+-]/, '');
    const name = RULE_NAMES.find((rule) => rule.toLowerCase() === bare.toLowerCase());
    if (!name) {
      throw new RuleSwitchesError(
        `Unknown rule "${bare}" in "${text}". Rules: ${RULE_NAMES.join(', ')}; also "all" and "none".`,
      );
    }
    switches[name] = on;
  }
  return switches;
}

/** The inverse of {@link parseRuleSwitches}, for logs and reports: `all`, `none`, or `all,-name,...`. */
export function formatRuleSwitches(switches: RuleSwitches): string {
  const off = RULE_NAMES.filter((name) => !switches[name]);
  if (off.length === 0) return 'all';
  if (off.length === RULE_NAMES.length) return 'none';
  return ['all', ...off.map((name) => `-${name}`)].join(',');
}
