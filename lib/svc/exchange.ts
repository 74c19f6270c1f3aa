// One question and its answer on a socket, bounded in bytes and time: the only I/O svcprobe does.
// A server that floods, never closes, resets or says nothing ends the read all the same; what it
// did is the `end` of the reply, and the bytes read so far are kept.
import { connect as netConnect, type Socket } from 'node:net';

/** How a read ended. */
export type ReplyEnd = 'complete' | 'closed' | 'timeout' | 'cap' | 'error';

export interface Reply {
  bytes: Buffer;
  end: ReplyEnd;
  /** The error code (ECONNRESET, ...) when end is 'error'. */
  error?: string;
}

/** Opens a TCP connection (injected in tests; node:net by default). */
export type Connect = (host: string, port: number) => Socket;

export const netConnectLayer: Connect = (host, port) => netConnect({ host, port });

/** After the first bytes of an answer with no recognisable end, this much quiet ends the read. */
export const QUIET_MS = 150;

export const errorCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/** A connected socket, or the reason there is none (timeout, refused, aborted). */
export function openSocket(connect: Connect, host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<Socket | string> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve('aborted');
    const socket = connect(host, port);
    const done = (outcome: Socket | string): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      if (typeof outcome === 'string') socket.destroy();
      resolve(outcome);
    };
    const onConnect = (): void => {
      // Errors after this are seen by each read's own listener; between reads none may go unhandled.
      socket.on('error', () => undefined);
      done(socket);
    };
    const onError = (err: Error): void => done(`connect: ${errorCode(err)}`);
    const onAbort = (): void => done('aborted');
    const timer = setTimeout(() => done(`connect: no answer in ${timeoutMs} ms`), timeoutMs);
    socket.once('connect', onConnect);
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Send `payload` (if any) and read until `complete` says the answer is whole, the peer closes or
 * fails, `capBytes` arrive, or `waitMs` pass (after a first chunk with no recognisable end, QUIET_MS
 * of silence is enough). The socket stays open for the caller to reuse or destroy.
 */
export function exchange(
  socket: Socket,
  payload: Buffer | null,
  complete: (bytes: Buffer) => boolean,
  options: { waitMs: number; capBytes: number; signal: AbortSignal },
): Promise<Reply> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let finished = false;
    const bytes = (): Buffer => Buffer.concat(chunks, length);
    const finish = (end: ReplyEnd, error?: string): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      options.signal.removeEventListener('abort', onAbort);
      // Nothing more is wanted from this read: later bytes must not pile up in the stream's buffer.
      socket.pause();
      resolve(error === undefined ? { bytes: bytes(), end } : { bytes: bytes(), end, error });
    };
    const onData = (chunk: Buffer): void => {
      const room = options.capBytes - length;
      const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
      chunks.push(kept);
      length += kept.length;
      if (length >= options.capBytes) return finish('cap');
      const all = bytes();
      chunks.length = 0;
      chunks.push(all);
      if (complete(all)) return finish('complete');
      clearTimeout(timer);
      // A trickle never extends the read past its wait.
      timer = setTimeout(() => finish('timeout'), Math.max(0, Math.min(QUIET_MS, deadline - performance.now())));
    };
    const onEnd = (): void => finish('closed');
    const onError = (err: Error): void => finish('error', errorCode(err));
    const onAbort = (): void => finish('error', 'aborted');
    const deadline = performance.now() + options.waitMs;
    let timer = setTimeout(() => finish('timeout'), options.waitMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
    options.signal.addEventListener('abort', onAbort, { once: true });
    socket.resume();
    if (socket.destroyed || socket.readableEnded) return finish('closed');
    if (payload && payload.length > 0) socket.write(payload, (err) => err && finish('error', errorCode(err)));
  });
}
