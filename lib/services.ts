import { readFileSync } from 'node:fs';

/**
 * TCP service names by port from the system services database (services(5), Debian's netbase),
 * read once on first use. A missing file means no names, not an error.
 */
export class ServiceNames {
  private names: Map<number, string> | null = null;

  constructor(private readonly path = '/etc/services') {}

  tcp(port: number): string | undefined {
    this.names ??= this.load();
    return this.names.get(port);
  }

  private load(): Map<number, string> {
    const names = new Map<number, string>();
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return names;
    }
    for (const line of text.split('\n')) {
      // "ssh   22/tcp   # SSH Remote Login Protocol": name, port/protocol, aliases, comment.
      const match = /^([^\s#]+)\s+(\d+)\/tcp\b/.exec(line);
      if (match && !names.has(Number(match[2]))) names.set(Number(match[2]), match[1] as string);
    }
    return names;
  }
}
