/**
 * The shape every check returns: `{ check, healthy, reasons, figures, summary, checkedAt }`. Reasons are
 * sentences for a person; figures are numbers for dashboards and the next workflow state.
 */

export const CheckName = {
  Scaling: 'scaling',
  Replication: 'replication',
  Comparison: 'comparison',
} as const;
export type CheckName = (typeof CheckName)[keyof typeof CheckName];

export interface Verdict<F> {
  check: CheckName;
  healthy: boolean;
  /** One sentence per problem, each saying what to look at; empty when healthy. */
  reasons: string[];
  figures: F;
  /** One line: healthy, or the reasons joined. */
  summary: string;
  checkedAt: string;
}

export function verdict<F>(check: CheckName, reasons: string[], figures: F, healthyText: string): Verdict<F> {
  return {
    check,
    healthy: reasons.length === 0,
    reasons,
    figures,
    summary: reasons.length === 0 ? healthyText : `${check} unhealthy: ${reasons.join(' ')}`,
    checkedAt: new Date().toISOString(),
  };
}
