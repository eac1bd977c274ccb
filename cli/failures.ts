/**
 * What a failed execution's Error means and what to do, as docs/workflows.md's "Output and failures" table says,
 * and the Cause made readable: a Task's Cause is Lambda's JSON `{ errorType, errorMessage, trace }`.
 */

export interface FailureExplanation {
  error: string;
  /** The Cause's message: `errorMessage` of a Lambda error, else the Cause as it is. */
  cause: string;
  /** What the Error means and what to do, in one sentence. */
  meaning: string;
}

const MEANINGS: { match: RegExp; meaning: string }[] = [
  {
    match: /^InvalidInputError$/,
    meaning: 'The input is wrong; the Cause names the field. Fix the input file and start again.',
  },
  {
    match: /^PreconditionError$/,
    meaning:
      'Something must be in place first; the Cause says what to do. Do it, then start the same input again.',
  },
  {
    match: /^TransientError$/,
    meaning:
      'A condition that clears up by itself (throttling, a 5xx, a table still CREATING) outlasted every retry; start again in a few minutes.',
  },
  {
    match: /^(LeasesNeverAppeared|ScalingDidNotSettle|ReplicationDidNotConverge)$/,
    meaning:
      "A bounded wait ran out (leases 2 min, scaling 5 min, replication 2 min); the Cause holds the last verdict's reasons. Look at the pods and their logs, fix, start again.",
  },
  {
    match: /^FleetUnhealthy$/,
    meaning: 'A check found the fleet unhealthy; every reason is in the Cause.',
  },
  {
    match: /^(States|Lambda|Sandbox)\./,
    meaning:
      "Step Functions' or Lambda's own error: the Cause is raw; check the function's logs in CloudWatch Logs.",
  },
  { match: /^Aborted$/, meaning: 'The execution was stopped before it finished.' },
];

/** The meaning of an Error name (docs/workflows.md's table), or a pointer to the Cause. */
export function meaningOf(error: string): string {
  return (
    MEANINGS.find((m) => m.match.test(error))?.meaning ??
    'An error the workflow did not expect; the Cause says more.'
  );
}

/** The readable part of a Cause: Lambda's errorMessage when the Cause is its JSON. */
export function causeMessage(cause: string | undefined): string {
  if (!cause) return '';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (parsed && typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // not JSON: the Cause is the message
  }
  return cause;
}

export function explainFailure(error: string | undefined, cause: string | undefined): FailureExplanation {
  const name = error ?? 'Error';
  return { error: name, cause: causeMessage(cause), meaning: meaningOf(name) };
}
