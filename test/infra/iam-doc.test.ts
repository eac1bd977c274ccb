/** docs/iam.md is generated from the policies the project deploys; it must say what they say. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IAM_DOC_PATH, renderIamDoc } from '../../local/identities/iam-doc.js';

describe('docs/iam.md', () => {
  it('is the table of every grant of every principal, with its reason, as generated from the policies (npm run iam-doc)', async () => {
    const page = readFileSync(IAM_DOC_PATH, 'utf8');
    expect(page, 'docs/iam.md is out of date: run npm run iam-doc').toBe(await renderIamDoc());
  });
});
