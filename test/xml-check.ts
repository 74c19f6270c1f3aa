// Validation against nmap's DTD with xmllint, the reference consumer, shared by the XML tests.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { has } from './lab.js';

const DTD = '/usr/share/nmap/nmap.dtd';
const dir = mkdtempSync(join(tmpdir(), 'xml-check-'));
export const noXmllint = !has('xmllint') ? 'xmllint is not installed (apt-get install libxml2-utils)' : !existsSync(DTD) ? `${DTD} is missing (apt-get install nmap)` : false;

let serial = 0;
/** xmllint's verdict on a document: exit 0 and no output when valid against nmap's DTD. */
export function validate(xml: string): Promise<{ code: number; stderr: string }> {
  const file = join(dir, `doc${serial++}.xml`);
  writeFileSync(file, xml);
  return new Promise((resolve) => {
    execFile('xmllint', ['--noout', '--dtdvalid', DTD, file], (err, _stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}

/** A subtest that validates `xml` with xmllint, skipped with the reason when xmllint or the DTD is missing. */
export function checkValid(t: Test, xml: string, name = 'valid against nmap.dtd'): Promise<unknown> {
  return t.test(name, { skip: noXmllint }, async (t) => {
    const verdict = await validate(xml);
    t.equal(verdict.code, 0, verdict.stderr);
    t.equal(verdict.stderr, '');
  });
}

