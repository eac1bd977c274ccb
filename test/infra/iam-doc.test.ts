/** docs/iam.md is generated from the policies the project deploys; it must say what they say. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  IAM_DOC_PATH,
  README_PATH,
  readmeWithIamSummary,
  renderIamDoc,
} from '../../local/identities/iam-doc.js';

describe('docs/iam.md', () => {
  it('is the table of every grant of every principal, with its reason, as generated from the policies (npm run iam-doc)', async () => {
    const page = readFileSync(IAM_DOC_PATH, 'utf8');
    expect(page, 'docs/iam.md is out of date: run npm run iam-doc').toBe(await renderIamDoc());
  });

  it("README's table per principal is the one generated from the same policies", async () => {
    const readme = readFileSync(README_PATH, 'utf8');
    expect(readme, "README.md's IAM table is out of date: run npm run iam-doc").toBe(
      await readmeWithIamSummary(readme),
    );
    // The block says what the policies say: the consumer's lease-table grant includes BatchGetItem (issue 12).
    expect(readme).toMatch(/`users-replicator`: [^|;]*BatchGetItem/);
  });
});
