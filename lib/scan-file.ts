// pmap's -w file. Written whole to a temporary name next to the real file and renamed over it, so a
// reader never sees half a document; but a rename replaces whatever the path names, so devices and
// FIFOs are written in place, symlinks are followed, and the old mode is kept (issue 10 item 6).
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  chownSync,
  closeSync,
  constants,
  lstatSync,
  openSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from './frame.js';

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted (an immutable or append-only file, or a sticky directory)',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EISDIR: 'it is a directory',
  ENXIO: 'no reader on the FIFO',
};

/** An fs error in words, with its code: `permission denied (EACCES)`. */
export function describeError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code && REASONS[code]) return `${REASONS[code]} (${code})`;
  return code ?? (err as Error).message;
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/** Where the path really points: through symlinks, also a dangling one (it is created). */
function realTarget(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    try {
      if (lstatSync(path).isSymbolicLink()) return realTarget(resolve(dirname(path), readlinkSync(path)));
    } catch {
      // Not there: the usual case.
    }
    return path;
  }
}

const euid = (): number => process.geteuid?.() ?? -1;

/**
 * Whether replacing `stats` in `directory` by a rename is refused: a sticky directory (/tmp) lets
 * only the owner of the file or of the directory (or root) remove or replace the file (S_ISVTX,
 * 0o1000, which node:fs does not export).
 */
function stickyRefuses(directory: string, stats: Stats): boolean {
  const dir = statOrNull(directory);
  const me = euid();
  return !!dir && (dir.mode & 0o1000) !== 0 && me !== 0 && stats.uid !== me && dir.uid !== me;
}

export class ScanFile {
  constructor(readonly path: string) {}

  /** Fail before the scan, not after it, when the final write cannot work. */
  check(): void {
    const fail = (why: string): never => {
      throw new UsageError(`cannot write -w ${this.path}: ${why}`);
    };
    if (this.path.endsWith('/') || statOrNull(this.path)?.isDirectory()) fail('it is a directory');
    const target = realTarget(this.path);
    const stats = statOrNull(target);
    if (stats && !stats.isFile()) {
      // A device or FIFO is written in place: it only needs to be writable.
      try {
        accessSync(target, constants.W_OK);
      } catch (err) {
        fail(describeError(err));
      }
      return;
    }
    const probe = temporaryFor(target);
    try {
      closeSync(openSync(probe, 'wx'));
      unlinkSync(probe);
    } catch (err) {
      fail(describeError(err));
    }
    if (!stats) return;
    // The rename replaces the file whatever its permissions, except when it is immutable or
    // append-only (open for writing says EPERM, even to root) or a sticky directory refuses; then
    // the file must take the write itself.
    let writable = true;
    try {
      closeSync(openSync(target, 'r+'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EPERM') fail(describeError(err));
      writable = false;
    }
    if (!writable && stickyRefuses(dirname(target), stats)) {
      fail('a sticky directory keeps its file from being replaced, and the file is not writable (EACCES)');
    }
  }

  /**
   * Write the document. When that fails after all (the disk filled, the directory went away),
   * the results are saved in the temporary directory instead and the error says where.
   */
  save(document: unknown): void {
    const text = `${JSON.stringify(document, null, 2)}\n`;
    const target = realTarget(this.path);
    const stats = statOrNull(target);
    let failure: unknown;
    try {
      if (stats && !stats.isFile()) writeFileSync(target, text);
      else replace(target, text, stats);
      return;
    } catch (err) {
      failure = err;
    }
    // A rename refused (sticky directory) may still leave the file itself writable.
    if (stats?.isFile()) {
      try {
        writeFileSync(target, text);
        return;
      } catch {
        // Keep the first reason: it is the one about the rename.
      }
    }
    const rescue = join(tmpdir(), `pmap-${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}.json`);
    try {
      writeFileSync(rescue, text, { flag: 'wx', mode: 0o600 });
    } catch (err) {
      throw new Error(`cannot write -w ${this.path}: ${describeError(failure)}; nor ${rescue}: ${describeError(err)}`);
    }
    throw new Error(`cannot write -w ${this.path}: ${describeError(failure)}; the results are saved in ${rescue}`);
  }
}

function temporaryFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Write `text` to a temporary file beside `target` and rename it over, keeping the old mode and owner. */
function replace(target: string, text: string, old: Stats | null): void {
  const temporary = temporaryFor(target);
  try {
    writeFileSync(temporary, text, { flag: 'wx', ...(old ? { mode: old.mode & 0o7777 } : {}) });
    if (old) {
      // writeFile's mode passes through the umask: set it exactly.
      chmodSync(temporary, old.mode & 0o7777);
      if (euid() === 0 && (old.uid !== 0 || old.gid !== 0)) chownSync(temporary, old.uid, old.gid);
    }
    renameSync(temporary, target);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
}
