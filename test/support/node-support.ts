/**
 * The Node.js majors Streamfleet supports, and why: 22 is what the worker's image runs (consumer/Dockerfile),
 * 24 is what the Lambda functions run (infra/control-plane.ts, nodejs24.x). Node 20 reached its end of life on
 * 30 April 2026 and aws-local-stepfunctions (the local workflow runner) requires Node 22 or newer. The README
 * says the same (test/unit/docs.test.ts checks it against the Dockerfile, the Lambda runtime and package.json's
 * engines); `npm run test:node-versions` runs the unit tests and a short `npm start` on each.
 */
export const SUPPORTED_NODE_MAJORS = [22, 24] as const;
