/**
 * Kubernetes label selectors as the API server reads `?labelSelector=`: comma-separated requirements, each
 * `key`, `!key`, `key=value` (or `==`), `key!=value`, `key in (a,b)` or `key notin (a,b)`; all must hold.
 * Pure.
 */

type Requirement = (labels: Readonly<Record<string, string>>) => boolean;

export class LabelSelectorError extends Error {}

function requirement(term: string): Requirement {
  const set = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (set) {
    const [, key = '', op, values = ''] = set;
    const allowed = values.split(',').map((v) => v.trim());
    return op === 'in'
      ? (labels) => labels[key] !== undefined && allowed.includes(labels[key] as string)
      : (labels) => labels[key] === undefined || !allowed.includes(labels[key] as string);
  }
  const compare = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s,]*)$/.exec(term);
  if (compare) {
    const [, key = '', op, value = ''] = compare;
    return op === '!=' ? (labels) => labels[key] !== value : (labels) => labels[key] === value;
  }
  const exists = /^(!?)([^\s!=(),]+)$/.exec(term);
  if (exists) {
    const [, not, key = ''] = exists;
    return not ? (labels) => labels[key] === undefined : (labels) => labels[key] !== undefined;
  }
  throw new LabelSelectorError(`unable to parse requirement: ${JSON.stringify(term)}`);
}

/** A predicate over an object's labels; an empty selector selects everything. */
export function parseLabelSelector(selector: string | null | undefined): Requirement {
  const terms = (selector ?? '')
    .split(/,(?![^(]*\))/)
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  const requirements = terms.map(requirement);
  return (labels) => requirements.every((r) => r(labels));
}
