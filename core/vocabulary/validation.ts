/**
 * Input checks shared by the control-plane builders. Each returns the value it accepted, so a builder can
 * read `const name = requireDns1123Label('name', input.name)`, and throws `InvalidInputError` naming the
 * field and the rule otherwise.
 */
import { InvalidInputError } from './errors.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DYNAMODB_TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;
/** us-east-1, eu-central-2, cn-north-1, us-gov-west-1, ap-southeast-3, ... */
const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const AWS_ACCOUNT_ID = /^\d{12}$/;

/** A short, safe rendering of what a caller passed, for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > 80 ? `"${value.slice(0, 77)}..."` : JSON.stringify(value);
  }
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return typeof value;
}

function requireString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidInputError(field, `expected a non-empty string, got ${describeValue(value)}`);
  }
  return value;
}

/** RFC 1123 label as Kubernetes checks it: namespaces, container names, label-sized names (≤ 63). */
export function requireDns1123Label(field: string, value: unknown): string {
  const text = requireString(field, value);
  if (text.length > 63 || !DNS1123_LABEL.test(text)) {
    throw new InvalidInputError(
      field,
      `expected a DNS-1123 label (at most 63 characters: lower-case letters, digits and '-', starting and ending with a letter or digit), got ${describeValue(value)}`,
    );
  }
  return text;
}

/** RFC 1123 subdomain as Kubernetes checks it: most object names (≤ 253, dot-separated labels). */
export function requireDns1123Subdomain(field: string, value: unknown): string {
  const text = requireString(field, value);
  if (text.length > 253 || !DNS1123_SUBDOMAIN.test(text)) {
    throw new InvalidInputError(
      field,
      `expected a DNS-1123 subdomain (at most 253 characters: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit), got ${describeValue(value)}`,
    );
  }
  return text;
}

/** DynamoDB table (and index) names: 3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'. */
export function requireTableName(field: string, value: unknown): string {
  const text = requireString(field, value);
  if (!DYNAMODB_TABLE_NAME.test(text)) {
    throw new InvalidInputError(
      field,
      `expected a DynamoDB table name (3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'), got ${describeValue(value)}`,
    );
  }
  return text;
}

export function requireAwsRegion(field: string, value: unknown): string {
  const text = requireString(field, value);
  if (!AWS_REGION.test(text)) {
    throw new InvalidInputError(
      field,
      `expected an AWS region such as us-east-1, got ${describeValue(value)}`,
    );
  }
  return text;
}

export function requireAccountId(field: string, value: unknown): string {
  const text = requireString(field, value);
  if (!AWS_ACCOUNT_ID.test(text)) {
    throw new InvalidInputError(field, `expected a 12-digit AWS account id, got ${describeValue(value)}`);
  }
  return text;
}

/** A whole number within [min, max] (both inclusive). */
export function requireInteger(
  field: string,
  value: unknown,
  bounds: { min?: number; max?: number } = {},
): number {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = bounds;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range =
      bounds.max === undefined
        ? `at least ${min}`
        : bounds.min === undefined
          ? `at most ${max}`
          : `${min}..${max}`;
    throw new InvalidInputError(field, `expected a whole number ${range}, got ${describeValue(value)}`);
  }
  return value;
}

/** A finite number within [min, max] (both inclusive). */
export function requireNumber(
  field: string,
  value: unknown,
  bounds: { min?: number; max?: number } = {},
): number {
  const { min = Number.NEGATIVE_INFINITY, max = Number.POSITIVE_INFINITY } = bounds;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidInputError(field, `expected a number in [${min}, ${max}], got ${describeValue(value)}`);
  }
  return value;
}
