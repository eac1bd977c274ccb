/**
 * The documentation must match the code: the README's first lines, its size and prerequisites; every link of the
 * README and docs/ (files and headings); every worker variable and metric in docs/configuration.md; every
 * `npm start` option, CLI option and CDK context option a page documents exists in the code, and the reverse.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../../consumer/config.js';
import { WorkerMetrics } from '../../consumer/observability/metrics.js';
import { HELP } from '../../local/start/options.js';
import { SUPPORTED_NODE_MAJORS } from '../support/node-support.js';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const readme = read('README.md');
const configuration = read('docs/configuration.md');
const pages = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Markdown text without its fenced code blocks (their brackets are not links). */
function prose(markdown: string): string {
  return markdown.replace(/```[\s\S]*?```/g, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(markdown: string): Set<string> {
  return new Set(
    [...prose(markdown).matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug((m[1] as string).replace(/`/g, ''))),
  );
}

/** Relative links and images of a page: [text](target) and ![alt](target), with their anchors. */
function links(markdown: string): { target: string; anchor: string | undefined }[] {
  return [...prose(markdown).matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] as string)
    .filter((target) => !/^[a-z]+:/i.test(target))
    .map((target) => {
      const [path, anchor] = target.split('#');
      return { target: path ?? '', anchor };
    });
}

/** The `--options` in the first column of a page's Markdown tables. */
function tableOptions(markdown: string): string[] {
  return [...prose(markdown).matchAll(/^\| ([^|]+) \|/gm)].flatMap((m) =>
    [...(m[1] as string).matchAll(/`(--[a-z][a-z-]*)/g)].map((o) => o[1] as string),
  );
}

describe('README', () => {
  it('starts with the two commands a newcomer needs', () => {
    const head = readme.split('\n').slice(0, 8).join('\n');
    expect(head).toMatch(/npm install && npm start/);
    expect(head).toMatch(/npm test/);
  });

  it('fits in 15 KB, with a diagram, the why, prerequisites, deploy and links to every page', () => {
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(15 * 1024);
    for (const heading of [
      'How it fits together',
      'Prerequisites',
      'Deploy to AWS, in brief',
      'Documentation',
    ]) {
      expect(readme).toContain(`## ${heading}`);
    }
    expect(readme).toMatch(/Lambda/);
    expect(readme).toMatch(/KCL/);
    const linked = new Set(links(readme).map((l) => l.target));
    for (const page of pages.filter((p) => p !== 'README.md')) expect(linked, page).toContain(page);
    for (const file of ['RELIABILITY.md', 'BENCHMARKS.md', 'LICENSE']) expect(linked).toContain(file);
  });

  it('quotes only figures that BENCHMARKS.md states', () => {
    const benchmarks = read('BENCHMARKS.md');
    const why = readme.slice(readme.indexOf('## Why this'), readme.indexOf('## Prerequisites'));
    for (const figure of why.match(/\*\*[^*]+\*\*/g) ?? []) {
      for (const number of figure.match(/\d[\d,.]*/g) ?? []) {
        expect(benchmarks, `${figure}: ${number}`).toContain(number.replace(/[.,]$/, ''));
      }
    }
  });

  it('names the supported Node.js versions, which the image, Lambda and engines agree with', () => {
    const [low, high] = SUPPORTED_NODE_MAJORS;
    expect(readme).toContain(`**Node.js ${low} or ${high}.**`);
    expect(read('consumer/Dockerfile')).toMatch(new RegExp(`^FROM node:${low}\\.`, 'm'));
    expect(read('infra/control-plane.ts')).toContain(`Runtime.NODEJS_${high}_X`);
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(`>=${low}`);
  });
});

describe('links', () => {
  it.each(pages)('every relative link of %s points at a file and heading that exist', (page) => {
    const text = read(page);
    for (const { target, anchor } of links(text)) {
      const file = target === '' ? join(ROOT, page) : resolve(dirname(join(ROOT, page)), target);
      expect(existsSync(file), `${page} → ${target}`).toBe(true);
      if (anchor && statSync(file).isFile() && file.endsWith('.md')) {
        expect(anchors(readFileSync(file, 'utf8')), `${page} → ${target}#${anchor}`).toContain(anchor);
      }
    }
  });
});

describe('docs/configuration.md', () => {
  const documented = [...configuration.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1] as string);

  it.each(Object.keys(CONFIG_VARIABLES))('documents %s', (variable) => {
    expect(documented).toContain(variable);
  });

  it("documents no variable the worker doesn't read", () => {
    for (const variable of documented) expect(Object.keys(CONFIG_VARIABLES), variable).toContain(variable);
  });

  it('documents every metric the worker exports', async () => {
    const metrics = await new WorkerMetrics().registry.getMetricsAsJSON();
    for (const metric of metrics) expect(configuration, metric.name).toContain(metric.name);
  });
});

describe('options', () => {
  it('docs/local-mode.md documents every npm start option, and only those', () => {
    const documented = new Set(tableOptions(read('docs/local-mode.md')));
    const inHelp = new Set([...HELP.matchAll(/^ {2}(?:-h, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1] as string));
    expect(inHelp.size).toBeGreaterThan(10);
    for (const option of inHelp) if (option !== '--help') expect(documented, option).toContain(option);
    for (const option of documented) expect(inHelp, option).toContain(option);
  });

  it('docs/cli.md documents only options the CLI parses', () => {
    const args = read('cli/args.ts');
    for (const option of new Set(tableOptions(read('docs/cli.md')))) {
      expect(args, option).toContain(`'${option.slice(2)}'`);
    }
  });

  it('docs/deploy.md documents only context options the CDK app reads', () => {
    const config = read('infra/config.ts');
    const deploy = read('docs/deploy.md');
    const table = deploy.slice(deploy.indexOf('| context |'));
    const keys = [...table.matchAll(/^\| `([a-zA-Z]+)` \|/gm)].map((m) => m[1] as string);
    expect(keys.length).toBeGreaterThan(10);
    for (const key of keys) expect(config, key).toContain(`'${key}'`);
  });
});
