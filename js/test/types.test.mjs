// The TypeScript declarations (js/index.d.ts), checked two ways:
//  1. `tsc --noEmit --strict` over fixtures/types/usage.ts, which uses every
//     exported API the way emailjs users do and holds `// @ts-expect-error`
//     lines that must fail, against the *installed* tarball (so package.json's
//     `types` / `exports` are what resolves `mimeograph` and
//     `mimeograph/browser`), with Node's and with bundlers' module resolution.
//  2. Completeness: every value the package exports at run time (js/index.js)
//     is declared, and every public method and static of its classes too
//     (read from index.d.ts with the TypeScript compiler API).
//
// TypeScript and @types/node come from the npm registry once, pinned, into
// target/typescript-cache/ (later runs reuse them). This test builds no Rust:
// it needs js/wasm/ from scripts/build-pkg.sh.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { cleanup, here, jsDir, onCleanup, repoRoot, tmpDir, cachedInstall, packTarball } from './helpers.mjs';

const run = promisify(execFile);
after(cleanup);

const TYPESCRIPT_VERSION = process.env.MIMEOGRAPH_TYPESCRIPT_VERSION || '5.9.3';
const TYPES_NODE_VERSION = '20.19.43';


let toolsPromise;
/** TypeScript + @types/node from the cache, and a project (inside it) with the tarball installed and usage.ts. */
function tools() {
  toolsPromise ??= (async () => {
    
    const [tarball, ts] = await Promise.all([
      packTarball('mimeograph-types-pack-'),
      cachedInstall('typescript-cache', { typescript: TYPESCRIPT_VERSION, '@types/node': TYPES_NODE_VERSION }),
    ]);
    // The project sits inside the cache folder: `tsc` and @types/node resolve
    // from the enclosing node_modules, `mimeograph` from the project's own.
    const project = mkdtempSync(path.join(ts.dir, 'project-'));
    onCleanup(() => rmSync(project, { recursive: true, force: true }));
    writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'types-check', private: true, type: 'module' }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--omit=optional', tarball], {
      cwd: project,
      timeout: 60000,
      killSignal: 'SIGKILL',
    });
    cpSync(path.join(here, 'fixtures', 'types'), project, { recursive: true });
    const installedDts = path.join(project, 'node_modules', 'mimeograph', 'index.d.ts');
    assert.ok(existsSync(installedDts), 'the installed package has index.d.ts');
    return { ...ts, project, installedDts, tsc: path.join(ts.dir, 'node_modules', 'typescript', 'bin', 'tsc') };
  })();
  return toolsPromise;
}

/** Runs tsc; returns { code, output }. */
async function tsc(cwd, tscPath, args) {
  try {
    const { stdout, stderr } = await run(process.execPath, [tscPath, ...args], { cwd, timeout: 60000, killSignal: 'SIGKILL' });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    if (e.killed || typeof e.code !== 'number') throw e;
    return { code: e.code, output: `${e.stdout}${e.stderr}` };
  }
}

const COMMON = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--target', 'es2022', '--types', 'node', '--pretty', 'false'];
const RESOLUTIONS = {
  node: ['--module', 'nodenext', '--moduleResolution', 'nodenext'],
  bundler: ['--module', 'esnext', '--moduleResolution', 'bundler'],
};

for (const [name, flags] of Object.entries(RESOLUTIONS)) {
  test(`tsc ${TYPESCRIPT_VERSION} --strict (moduleResolution ${flags[3]}): usage.ts compiles, and its @ts-expect-error lines are errors`, { timeout: 90000 }, async (t) => {
    const started = Date.now();
    const { project, tsc: tscPath, cached } = await tools();
    t.diagnostic(`typescript ${TYPESCRIPT_VERSION} + @types/node ${TYPES_NODE_VERSION} ${cached ? 'from the cache' : 'installed'}; project ready: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // The @ts-expect-error lines really are errors: unchecked.ts is usage.ts
    // without the directives, and tsc must report an error on each of those
    // lines there, and on no other line. One tsc run checks both files.
    const source = readFileSync(path.join(project, 'usage.ts'), 'utf8').split('\n');
    const expected = [];
    const stripped = source.map((line, i) => {
      if (/^\s*\/\/ @ts-expect-error/.test(line)) {
        expected.push(i + 2); // 1-based number of the next line
        return '';
      }
      return line;
    });
    assert.ok(expected.length >= 20, `usage.ts has its @ts-expect-error lines (${expected.length})`);
    writeFileSync(path.join(project, 'unchecked.ts'), stripped.join('\n'));
    const { output } = await tsc(project, tscPath, [...COMMON, ...flags, 'usage.ts', 'unchecked.ts']);
    t.diagnostic(`tsc (${name}) done: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const errors = [...output.matchAll(/^([^\s(]+)\((\d+),\d+\): error (TS\d+)/gm)].map((m) => ({ file: m[1], line: Number(m[2]), code: m[3] }));
    const elsewhere = errors.filter((e) => e.file !== 'usage.ts' && e.file !== 'unchecked.ts');
    assert.deepEqual(elsewhere, [], `tsc reported errors outside usage.ts (in the declarations?):\n${output}`);
    const inUsage = errors.filter((e) => e.file === 'usage.ts');
    assert.deepEqual(inUsage, [], `tsc reported errors in usage.ts (or an unused @ts-expect-error):\n${output}`);
    const errorLines = new Set(errors.filter((e) => e.file === 'unchecked.ts').map((e) => e.line));
    const missing = expected.filter((l) => !errorLines.has(l));
    assert.deepEqual(missing, [], `these lines compile but must not:\n${missing.map((l) => `${l}: ${source[l - 1].trim()}`).join('\n')}`);
    const unexpected = [...errorLines].filter((l) => !expected.includes(l));
    assert.deepEqual(unexpected, [], `errors outside the @ts-expect-error lines:\n${output}`);
  });
}

test('index.d.ts declares every export of index.js, and the public methods and statics of its classes', { timeout: 90000 }, async () => {
  const { dir, installedDts } = await tools();
  const ts = createRequire(path.join(dir, 'package.json'))('typescript');
  const program = ts.createProgram([installedDts], { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, types: [] });
  const checker = program.getTypeChecker();
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(installedDts));
  const declared = new Map(checker.getExportsOfModule(moduleSymbol).map((s) => [s.name, s]));

  const lib = await import(path.join(jsDir, 'index.js'));
  const runtime = Object.keys(lib).sort();
  const undeclared = runtime.filter((name) => !(declared.get(name)?.flags & ts.SymbolFlags.Value));
  assert.deepEqual(undeclared, [], 'exports of index.js without a value declaration in index.d.ts');
  const phantom = [...declared.values()].filter((s) => s.flags & ts.SymbolFlags.Value && !(s.name in lib)).map((s) => s.name);
  assert.deepEqual(phantom, [], 'values declared in index.d.ts that index.js does not export');

  const problems = [];
  for (const name of runtime) {
    const value = lib[name];
    if (typeof value !== 'function' || !/^class\b/.test(Function.prototype.toString.call(value))) continue;
    const symbol = declared.get(name);
    const instanceType = checker.getDeclaredTypeOfSymbol(symbol);
    const staticType = checker.getTypeOfSymbol(symbol);
    const has = (type, member) => type.getProperties().some((p) => p.name === member);
    for (let proto = value.prototype; proto && proto !== Object.prototype && proto !== Error.prototype; proto = Object.getPrototypeOf(proto)) {
      for (const member of Object.getOwnPropertyNames(proto)) {
        if (member === 'constructor' || member.startsWith('_')) continue;
        if (!has(instanceType, member)) problems.push(`${name}.prototype.${member}`);
      }
      for (const sym of Object.getOwnPropertySymbols(proto)) {
        const known = instanceType.getProperties().some((p) => String(p.escapedName).startsWith(`__@${sym.description.replace(/^Symbol\./, '')}`));
        if (!known) problems.push(`${name}.prototype[${sym.description}]`);
      }
    }
    for (const member of Object.getOwnPropertyNames(value)) {
      if (['length', 'name', 'prototype'].includes(member) || member.startsWith('_')) continue;
      if (!has(staticType, member)) problems.push(`${name}.${member} (static)`);
    }
  }
  assert.deepEqual(problems, [], 'public members at run time that index.d.ts does not declare');
});
