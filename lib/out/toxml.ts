// toxml, the command: records on stdin to one nmap-style XML document on stdout.
import type { Writable } from 'node:stream';
import type minimist from 'minimist';
import { lastValue, UsageError, VERSION } from '../frame.js';
import { drained, LineBatcher } from '../output.js';
import { parsePorts } from '../ports.js';
import type { Rec } from '../records.js';
import { ServiceNames } from '../services.js';
import { defaultStylesheet, NmapXmlWriter, type XmlOptions } from './xml.js';

/** --stylesheet URL (or --no-stylesheet), -p PORTS, --window N: the writer's options. */
export function xmlOptionsFromArgs(args: minimist.ParsedArgs, commandLine: string): XmlOptions {
  const options: XmlOptions = { version: `pmap-toolkit ${VERSION}`, args: commandLine, stylesheet: defaultStylesheet(), services: new ServiceNames() };
  if (args.stylesheet === false) options.stylesheet = null;
  else if (args.stylesheet !== undefined) {
    const href = lastValue(args, 'stylesheet') ?? '';
    if (href === '' || href === 'true') throw new UsageError('missing URL after --stylesheet');
    options.stylesheet = href;
  }
  const ports = lastValue(args, 'p');
  if (ports !== undefined) options.scan = { services: ports, count: parsePorts(ports).length };
  const window = lastValue(args, 'window');
  if (window !== undefined) {
    if (!/^\d+$/.test(window) || Number(window) < 1) throw new UsageError(`--window must be a whole number >= 1, not "${window}"`);
    options.window = Number(window);
  }
  return options;
}

/**
 * Every record into the document as it is read, waiting for 'drain' when stdout is full. The
 * document is closed however reading ends (input done, Ctrl-C, a closed stdout): `stopped` says
 * why it ended early, for <finished exit="error">.
 */
export async function writeXml(records: AsyncIterable<Rec>, out: Writable, options: XmlOptions, stopped: () => string | undefined): Promise<number> {
  const sink = new LineBatcher(out);
  const writer = new NmapXmlWriter(sink, options);
  let count = 0;
  writer.begin();
  try {
    for await (const record of records) {
      count++;
      writer.add(record);
      if (sink.full) await drained(out);
    }
  } finally {
    const error = stopped();
    writer.end(error ? { error } : {});
  }
  return count;
}
