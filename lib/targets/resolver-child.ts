// The system resolver in a child process of its own, one JSON request a line on stdin, one reply a
// line on stdout. Why not in-process: getaddrinfo(3) cannot be cancelled, and while one is pending
// node cannot exit, not even by process.exit (libuv joins its thread pool at exit), until glibc
// gives up: timeout × attempts per nameserver in resolv.conf, 10 s or more by default. A child can
// be killed: a hanging resolver then holds up neither the scan nor the exit.
import { lookup, lookupService } from 'node:dns/promises';
import { createInterface } from 'node:readline';

export interface ResolveRequest {
  id: number;
  /** A host name (forward, A and AAAA) or an address (reverse, -R). */
  query: string;
  reverse: boolean;
}

export interface ResolveReply {
  id: number;
  addresses?: { address: string; family: number }[];
  name?: string;
  error?: string;
}

const reply = (message: ResolveReply): void => void process.stdout.write(`${JSON.stringify(message)}\n`);

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  const request = JSON.parse(line) as ResolveRequest;
  const failed = (err: NodeJS.ErrnoException): void => reply({ id: request.id, error: err.code ?? err.message });
  if (request.reverse) {
    // getnameinfo(3) rather than dns.reverse: it reads /etc/hosts too, as forward lookups do.
    lookupService(request.query, 0).then(({ hostname }) => reply({ id: request.id, name: hostname }), failed);
  } else {
    // verbatim: the resolver's own order (RFC 6724), as ping and nmap get it.
    lookup(request.query, { all: true, verbatim: true }).then((addresses) => reply({ id: request.id, addresses }), failed);
  }
});
process.stdout.write('ready\n');
// The parent is gone or done: leave at once, without waiting on lookups still in glibc.
lines.on('close', () => process.kill(process.pid, 'SIGKILL'));
