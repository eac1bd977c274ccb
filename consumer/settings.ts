/**
 * Settings, each defined once: its option name (`startWorker({ … })`), its environment variable
 * (`node dist/consumer.js`), what it means, its default and its validation. Both doors go through the same
 * checks, and an error names the setting the way the caller wrote it (`leaseDurationMs` or
 * `LEASE_DURATION_MS`) and says what is expected. Pure: no I/O.
 */
import { ConfigurationError } from '../core/vocabulary/errors.js';

/** Where values come from: library options (typed values) or the environment (text). */
export type SettingsSource = 'options' | 'environment';

export interface SettingSpec<T> {
  /** The option's name in `startWorker({ … })`. */
  readonly option: string;
  /** The environment variable the container reads. */
  readonly variable: string;
  /** What it means, with its default: the docs' tables are checked against this text. */
  readonly doc: string;
  /** Validates a raw value (text from the environment, a value from options; undefined when unset). */
  read(raw: unknown, source: SettingsSource, name: string): T;
}

/** The name an error uses for a setting: the option or the variable, as the caller wrote it. */
export function settingName(spec: Pick<SettingSpec<unknown>, 'option' | 'variable'>, source: SettingsSource) {
  return source === 'options' ? spec.option : spec.variable;
}

/** A value as written: text is trimmed, and blank text counts as unset (the environment's convention). */
function present(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  const trimmed = raw.trim();
  return trimmed === '' ? undefined : trimmed;
}

function shown(raw: unknown): string {
  return typeof raw === 'string' ? `"${raw}"` : raw === null ? 'null' : String(raw);
}

function requiredText(raw: unknown, name: string, hint: string): string {
  const value = present(raw);
  if (value === undefined) throw new ConfigurationError(name, `is required: ${hint}.`);
  if (typeof value !== 'string')
    throw new ConfigurationError(name, `expected a string, got ${shown(value)}.`);
  return value;
}

export function integerSetting(input: {
  option: string;
  variable: string;
  doc: string;
  min: number;
  max: number;
  /** The default; absent means the setting has a derived default, resolved by the caller. */
  fallback?: number;
}): SettingSpec<number | undefined> {
  const { min, max } = input;
  return {
    option: input.option,
    variable: input.variable,
    doc: input.doc,
    read(raw, source, name) {
      const value = present(raw);
      if (value === undefined) return input.fallback;
      const expected = `expected a whole number from ${min} to ${max}, got ${shown(value)}.`;
      let number: number;
      // The environment has only text; an option is a number, as its type says.
      if (typeof value === 'string' && source === 'environment') {
        if (!/^\d+$/.test(value)) throw new ConfigurationError(name, expected);
        number = Number(value);
      } else if (typeof value === 'number') number = value;
      else throw new ConfigurationError(name, expected);
      if (!Number.isSafeInteger(number) || number < min || number > max)
        throw new ConfigurationError(name, expected);
      return number;
    },
  };
}

/** An integer setting that always has a default. */
export function integerWithDefault(
  input: Parameters<typeof integerSetting>[0] & { fallback: number },
): SettingSpec<number> {
  return integerSetting(input) as SettingSpec<number>;
}

export function oneOfSetting<T extends string>(input: {
  option: string;
  variable: string;
  doc: string;
  values: readonly T[];
  fallback: T;
}): SettingSpec<T> {
  return {
    option: input.option,
    variable: input.variable,
    doc: input.doc,
    read(raw, _source, name) {
      const value = present(raw);
      if (value === undefined) return input.fallback;
      const match =
        typeof value === 'string'
          ? input.values.find((v) => v.toLowerCase() === value.toLowerCase())
          : undefined;
      if (!match)
        throw new ConfigurationError(
          name,
          `expected one of ${input.values.join(', ')}, got ${shown(value)}.`,
        );
      return match;
    },
  };
}

const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;

/** A DynamoDB table name; `required` says what to give when it is missing. */
export function tableNameSetting(input: {
  option: string;
  variable: string;
  doc: string;
  required?: string;
}): SettingSpec<string | undefined> {
  return {
    option: input.option,
    variable: input.variable,
    doc: input.doc,
    read(raw, _source, name) {
      if (present(raw) === undefined && input.required === undefined) return undefined;
      const value = requiredText(raw, name, input.required ?? '');
      if (!TABLE_NAME.test(value)) {
        throw new ConfigurationError(
          name,
          `"${value}" is not a valid DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -).`,
        );
      }
      return value;
    },
  };
}

/** A required table name: `read` never answers undefined. */
export function requiredTableName(
  input: Parameters<typeof tableNameSetting>[0] & { required: string },
): SettingSpec<string> {
  return tableNameSetting(input) as SettingSpec<string>;
}

/** Text matched against a pattern; `describe` says what is expected. */
export function patternSetting(input: {
  option: string;
  variable: string;
  doc: string;
  /** A RegExp, or any check with its `test`. */
  pattern: { test(value: string): boolean };
  describe: (value: string) => string;
  required?: string;
}): SettingSpec<string | undefined> {
  return {
    option: input.option,
    variable: input.variable,
    doc: input.doc,
    read(raw, _source, name) {
      if (present(raw) === undefined && input.required === undefined) return undefined;
      const value = requiredText(raw, name, input.required ?? '');
      if (!input.pattern.test(value)) throw new ConfigurationError(name, input.describe(value));
      return value;
    },
  };
}

/**
 * Reads every spec of `specs` from `values` (keyed by option name for options, by variable for the
 * environment) and answers the resolved values keyed by option name.
 */
export function readSettings<S extends Record<string, SettingSpec<unknown>>>(
  specs: S,
  values: Readonly<Record<string, unknown>>,
  source: SettingsSource,
): { [K in keyof S]: S[K] extends SettingSpec<infer T> ? T : never } {
  const resolved: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const name = settingName(spec, source);
    resolved[key] = spec.read(values[name], source, name);
  }
  return resolved as { [K in keyof S]: S[K] extends SettingSpec<infer T> ? T : never };
}

/** Options the caller gave that no spec knows: a typo would otherwise be ignored silently. */
export function assertKnownOptions(
  options: Readonly<Record<string, unknown>>,
  known: readonly string[],
): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
    throw new ConfigurationError(
      key,
      `is not an option of startWorker${near ? `; did you mean ${near}?` : ''} (docs/processors.md lists every option).`,
    );
  }
}
