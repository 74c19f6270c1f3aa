// pmap -oX FILE: the XML document streamed into a temporary file beside FILE and renamed over it
// at the end, so FILE is never half a document (the same promise as -w's ScanFile). Streamed,
// not held: a /16 with --all would otherwise keep every record until the end.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UsageError, VERSION } from '../frame.js';
import type { Rec } from '../records.js';
import { NmapXmlWriter, type Finish, type TextSink, type XmlOptions } from './xml.js';

const BATCH = 1 << 16;

/** Text gathered and written with one write(2) per 64 KiB: a synchronous file sink. */
class FileSink implements TextSink {
  private pending = '';

  constructor(private readonly fd: number) {}

  push(text: string): void {
    this.pending += text;
    if (this.pending.length >= BATCH) this.flush();
  }

  flush(): void {
    if (this.pending === '') return;
    writeSync(this.fd, this.pending);
    this.pending = '';
  }
}

export class XmlFile {
  private readonly temporary: string;
  private fd: number | null = null;
  private writer: NmapXmlWriter | null = null;

  constructor(
    readonly path: string,
    private readonly flag = '-oX',
  ) {
    this.temporary = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  }

  /** Opens the temporary file now, so a path that cannot be written fails before the scan (exit 2). */
  open(options: XmlOptions): void {
    let isDirectory = this.path.endsWith('/');
    try {
      isDirectory ||= statSync(this.path).isDirectory();
    } catch {
      // Not there yet: the usual case.
    }
    if (isDirectory) throw new UsageError(`cannot write ${this.flag} ${this.path}: it is a directory`);
    try {
      this.fd = openSync(this.temporary, 'w');
    } catch (err) {
      throw new UsageError(`cannot write ${this.flag} ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    this.writer = new NmapXmlWriter(new FileSink(this.fd), options);
    this.writer.begin();
  }

  add(record: Rec): void {
    this.writer?.add(record);
  }

  /** Ends the document and renames it into place; on a failure the temporary file goes. */
  close(finish: Finish): void {
    if (this.fd === null || this.writer === null) return;
    try {
      this.writer.end(finish);
      closeSync(this.fd);
      this.fd = null;
      renameSync(this.temporary, this.path);
    } catch (err) {
      if (this.fd !== null) closeSync(this.fd);
      this.fd = null;
      rmSync(this.temporary, { force: true });
      throw err;
    }
  }
}

/** pmap's -oX: the scan's ports in <scaninfo>, down hosts written only with --all (as on the terminal). */
export function openScanXml(path: string, scan: { command: string; ports?: { spec: string; count: number; type?: 'connect' | 'syn' }; all: boolean; start: Date; options: Omit<XmlOptions, 'version' | 'args' | 'scan' | 'start' | 'downHosts'> }): XmlFile {
  const file = new XmlFile(path);
  file.open({
    ...scan.options,
    version: `pmap-toolkit ${VERSION}`,
    args: scan.command,
    start: scan.start,
    downHosts: scan.all,
    ...(scan.ports ? { scan: { services: scan.ports.spec, count: scan.ports.count, ...(scan.ports.type ? { type: scan.ports.type } : {}) } } : {}),
  });
  return file;
}
