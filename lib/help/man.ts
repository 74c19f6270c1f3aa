// Man pages from the --help texts: one source, so a flag documented in --help is in the man page
// too. The help text's shape is the contract: "Usage:" line, description paragraph, then
// paragraphs headed "Options:", "Examples…:", "Exit status:" with one indented entry per line.
import { writeFileSync } from 'node:fs';
import { VERSION } from '../frame.js';
import { help as iprange } from './iprange.js';
import { help as pingprobe } from './pingprobe.js';
import { help as pmap } from './pmap.js';
import { help as tcpprobe } from './tcpprobe.js';
import { help as svcprobe } from './svcprobe.js';
import { help as tojson } from './tojson.js';
import { help as toxml } from './toxml.js';

export const HELP: Record<string, string> = { iprange, pingprobe, tcpprobe, svcprobe, tojson, toxml, pmap };

/** Text safe in roff: backslashes, minus signs (not hyphens, for copy and paste), leading dots. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

/** "  -n N   probes in flight": the term and its description, split at the first gap of 2+ spaces. */
function entry(line: string): [string, string] {
  const match = /^\s+(\S(?:.*?\S)?)(?:\s{2,}(.*))?$/.exec(line);
  return [match?.[1] ?? line.trim(), match?.[2] ?? ''];
}

/** Indented lists ("Options:", "Exit status:") as .TP entries; deeper-indented lines continue the last. */
function entries(lines: string[]): string {
  let out = '';
  let column = -1;
  for (const line of lines) {
    const indent = line.length - line.trimStart().length;
    if (column >= 0 && indent > 2) {
      out += `${roff(line.trim())}\n`;
      continue;
    }
    const [term, description] = entry(line);
    column = indent;
    out += `.TP\n.B ${roff(term)}\n${description ? `${roff(description)}\n` : ''}`;
  }
  return out;
}

/**
 * The roff page of a command. `title` is the page's own name (pmap's installed page is
 * pmap-toolkit(1), so that procps' pmap(1) stays what `man pmap` opens).
 */
export function manPage(command: string, help: string, title = command): string {
  const [usage = '', ...rest] = help.split('\n');
  const paragraphs = rest.join('\n').split(/\n\s*\n/).map((p) => p.split('\n'));
  const description = paragraphs.shift() ?? [];
  // NAME's one line: the first sentence, up to its first parenthesis.
  const summary = (description.join(' ').split(/\.\s/)[0] ?? '').replace(/\.$/, '').replace(/ \(.*$/, '');
  let page = `.\\" Generated from \`${command} --help\` by lib/help/man.ts; edit the help text, then npm run man.\n`;
  page += `.TH ${title.toUpperCase()} 1 "" "pmap-toolkit ${VERSION}" "pmap-toolkit manual"\n`;
  page += `.SH NAME\n${roff(title === command ? command : `${title}, ${command}`)} \\- ${roff(/^.[a-z]/.test(summary) ? summary.charAt(0).toLowerCase() + summary.slice(1) : summary)}\n`;
  page += `.SH SYNOPSIS\n.nf\n${roff(usage.replace(/^Usage:\s*/, ''))}\n.fi\n`;
  page += `.SH DESCRIPTION\n${roff(description.join('\n'))}\n`;
  for (const paragraph of paragraphs) {
    const [head = '', ...body] = paragraph;
    if (/^Options:$/.test(head)) page += `.SH OPTIONS\n${entries(body)}`;
    else if (/^Exit status:$/.test(head)) page += `.SH "EXIT STATUS"\n${entries(body)}`;
    else if (/^Examples/.test(head)) {
      const note = /\((.*)\):$/.exec(head)?.[1];
      // Examples are not filled (.nf) and sit at the page's indent: a line fits 80 columns when
      // the help's line, less its two-space indent, is 73 characters or fewer.
      page += `.SH EXAMPLES\n${note ? `${roff(note.charAt(0).toUpperCase() + note.slice(1))}.\n` : ''}.PP\n.nf\n${body.map((line) => roff(line.trim())).join('\n')}\n.fi\n`;
    } else page += `.PP\n${roff(paragraph.join('\n'))}\n`;
  }
  const others = Object.keys(HELP).filter((name) => name !== command);
  page += `.SH "SEE ALSO"\n${others.map((name) => `.BR ${name === 'pmap' ? 'pmap\\-toolkit' : name} (1)`).join(',\n')},\n.BR nmap (1),\n.BR ndiff (1),\n.BR fping (8)\n`;
  return page;
}

/** The pages as files: name -> text. pmap's page twice, as pmap.1 (`man ./man/pmap.1`) and pmap-toolkit.1 (installed). */
export function manPages(): Map<string, string> {
  const pages = new Map<string, string>();
  for (const [command, help] of Object.entries(HELP)) pages.set(`${command}.1`, manPage(command, help));
  pages.set('pmap-toolkit.1', manPage('pmap', pmap, 'pmap-toolkit'));
  return pages;
}

/** `npm run man`: rewrite man/ from the help texts. */
export function writeManPages(dir = new URL('../../../man/', import.meta.url)): string[] {
  const written: string[] = [];
  for (const [name, text] of manPages()) {
    writeFileSync(new URL(name, dir), text);
    written.push(name);
  }
  return written;
}
