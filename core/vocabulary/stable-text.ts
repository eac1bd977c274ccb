/**
 * One canonical text of a JSON-like value: object keys sorted, binaries as base64. Equal values give equal
 * texts whatever their key order, so it serves as a comparison (items, policy documents) and as a key.
 */
export function stableText(value: unknown): string {
  if (value instanceof Uint8Array) return `b64:${Buffer.from(value).toString('base64')}`;
  if (Array.isArray(value)) return `[${value.map(stableText).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableText((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}
