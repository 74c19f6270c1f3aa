// Real servers from Debian's packages for svcprobe's lab test and bench: each started inside the
// lab's target namespace, bound only to a lab address, its configuration and data in a temporary
// directory. A daemon whose package is missing (or that fails to start) is left out with the reason.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Daemon {
  /** nmap's service name for what it speaks. */
  name: string;
  port: number;
  product: string;
  /** The upstream version its package says, which the server reveals; undefined if it does not. */
  version?: string;
  tls?: boolean;
}

export interface Daemons {
  running: Daemon[];
  /** Daemons left out, with why. */
  skipped: string[];
  stop(): void;
}

/** Upstream version from a Debian package version: "1:9.2p1-2+deb12u3" -> "9.2p1". */
function packageVersion(pkg: string): string | undefined {
  try {
    const text = execFileSync('dpkg-query', ['-W', '-f', '${Version}', pkg], { encoding: 'utf8' });
    return /^(?:\d+:)?([^-~+]+)/.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

const POSTGRES_BIN = (): string | undefined => {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const major = readdirSync(root).sort((a, b) => Number(b) - Number(a))[0];
  return major ? join(root, major, 'bin') : undefined;
};

/** Whether a command exists (a path, or a name on root's PATH). */
function onPath(command: string): boolean {
  if (command.startsWith('/')) return existsSync(command);
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((dir) => existsSync(join(dir, command)));
}

/** A self-signed certificate for `name` (and the address), EC so it is quick to make. */
export function makeCertificate(dir: string, name: string, ip: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name},IP:${ip}`,
  ], { stdio: 'ignore' });
  return { cert, key };
}

interface Plan {
  daemon: Daemon;
  /** Package whose absence skips it. */
  pkg: string;
  /** Set-up run before start (as root, outside the namespace: files only). */
  prepare?: () => void | Promise<void>;
  argv: () => string[];
}

/** Start every daemon at once in `ns` on `ip`; resolves once each listens (or is given up on). */
export async function startDaemons(ns: string, ip: string, waitOpen: (ports: number[]) => Promise<number[]>): Promise<Daemons> {
  const dir = mkdtempSync(join(tmpdir(), 'svc-daemons-'));
  chmodSync(dir, 0o755);
  const skipped: string[] = [];
  const children: ChildProcess[] = [];
  let certificate: { cert: string; key: string } | null = null;
  try {
    certificate = makeCertificate(dir, 'svc.test', ip);
  } catch {
    skipped.push('nginx over TLS: openssl could not make a certificate');
  }
  const pg = POSTGRES_BIN();
  const plans: Plan[] = [
    {
      pkg: 'openssh-server',
      daemon: { name: 'ssh', port: 22, product: 'OpenSSH', version: packageVersion('openssh-server') },
      prepare: () => {
        // sshd insists on its privilege-separation directory.
        mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
        execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'ssh_host_ed25519_key')]);
        writeFileSync(join(dir, 'sshd_config'), [`ListenAddress ${ip}:22`, `HostKey ${join(dir, 'ssh_host_ed25519_key')}`, `PidFile ${join(dir, 'sshd.pid')}`, 'UsePAM no', ''].join('\n'));
      },
      argv: () => ['/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')],
    },
    {
      pkg: 'nginx-light',
      daemon: { name: 'http', port: 80, product: 'nginx', version: packageVersion('nginx-light') },
      prepare: () => {
        const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `${kind}_temp_path ${join(dir, `nginx-${kind}`)};`);
        const tls = certificate
          ? `server { listen ${ip}:443 ssl; ssl_certificate ${certificate.cert}; ssl_certificate_key ${certificate.key}; location / { return 200 "tls\\n"; } }`
          : '';
        writeFileSync(join(dir, 'nginx.conf'), [
          'daemon off;', 'master_process off;', `pid ${join(dir, 'nginx.pid')};`, `error_log ${join(dir, 'nginx-error.log')};`, 'events {}',
          `http { access_log off; ${temp.join(' ')} server { listen ${ip}:80; location / { return 200 "plain\\n"; } } ${tls} }`, '',
        ].join('\n'));
      },
      argv: () => ['/usr/sbin/nginx', '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'nginx-error.log')],
    },
    {
      pkg: 'redis-server',
      daemon: { name: 'redis', port: 6379, product: 'Redis key-value store', version: packageVersion('redis-server') },
      argv: () => ['redis-server', '--bind', ip, '--port', '6379', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no', '--dir', dir, '--logfile', ''],
    },
    {
      pkg: 'memcached',
      daemon: { name: 'memcached', port: 11211, product: 'Memcached', version: packageVersion('memcached') },
      argv: () => ['memcached', '-u', 'nobody', '-l', ip, '-p', '11211', '-U', '0'],
    },
    {
      pkg: 'vsftpd',
      daemon: { name: 'ftp', port: 21, product: 'vsftpd', version: packageVersion('vsftpd') },
      prepare: () => {
        mkdirSync('/var/run/vsftpd/empty', { recursive: true });
        writeFileSync(join(dir, 'vsftpd.conf'), [
          'listen=YES', 'listen_ipv6=NO', `listen_address=${ip}`, 'listen_port=21', 'background=NO', 'anonymous_enable=YES', 'anon_root=/var/run/vsftpd/empty', 'local_enable=NO',
          'seccomp_sandbox=NO', 'secure_chroot_dir=/var/run/vsftpd/empty', `vsftpd_log_file=${join(dir, 'vsftpd.log')}`, '',
        ].join('\n'));
      },
      argv: () => ['/usr/sbin/vsftpd', join(dir, 'vsftpd.conf')],
    },
    {
      pkg: 'exim4-daemon-light',
      daemon: { name: 'smtp', port: 25, product: 'Exim smtpd', version: packageVersion('exim4-daemon-light') },
      // -bdf: listen in the foreground; -oX: only this address and port (exim's "address.port" form).
      argv: () => ['/usr/sbin/exim4', '-bdf', '-oX', `${ip}.25`, '-oP', join(dir, 'exim.pid')],
    },
    ...(pg
      ? [
          {
            pkg: 'postgresql',
            daemon: { name: 'postgresql', port: 5432, product: 'PostgreSQL DB' },
            prepare: async () => {
              const data = join(dir, 'pg');
              mkdirSync(data, { mode: 0o700 });
              execFileSync('chown', ['postgres:postgres', data]);
              // initdb takes seconds: asynchronous, so the other daemons start meanwhile.
              await promisify(execFile)('runuser', ['-u', 'postgres', '--', join(pg, 'initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
            },
            argv: () => ['runuser', '-u', 'postgres', '--', join(pg, 'postgres'), '-D', join(dir, 'pg'), '-c', `listen_addresses=${ip}`, '-c', `unix_socket_directories=${join(dir, 'pg')}`, '-c', 'fsync=off', '-p', '5432'],
          } satisfies Plan,
        ]
      : []),
  ];
  if (!pg) skipped.push('postgresql: not installed');
  if (certificate) {
    const nginx = plans.find((plan) => plan.pkg === 'nginx-light');
    if (nginx) plans.push({ ...nginx, prepare: undefined, argv: () => [], daemon: { ...nginx.daemon, port: 443, tls: true } });
  }

  const starting: Plan[] = [];
  for (const plan of plans) {
    if (plan.daemon.version === undefined && plan.pkg !== 'postgresql' && !plan.daemon.tls) {
      skipped.push(`${plan.daemon.name}: package ${plan.pkg} is not installed`);
      continue;
    }
    const argv = plan.argv();
    if (!plan.daemon.tls && !onPath(argv[0]!)) {
      skipped.push(`${plan.daemon.name}: ${argv[0]} is missing`);
      continue;
    }
    starting.push(plan);
  }
  // Preparation (initdb takes seconds) runs in parallel with the other daemons starting.
  await Promise.all(
    starting.map(async (plan) => {
      await new Promise((resolve) => setImmediate(resolve));
      try {
        await plan.prepare?.();
      } catch (err) {
        skipped.push(`${plan.daemon.name}: set-up failed: ${(err as Error).message.split('\n')[0]}`);
        plan.daemon.port = -1;
        return;
      }
      const argv = plan.argv();
      if (argv.length === 0) return;
      children.push(spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: 'ignore', cwd: dir }));
    }),
  );
  const wanted = starting.map((plan) => plan.daemon).filter((daemon) => daemon.port > 0);
  const open = new Set(await waitOpen(wanted.map((daemon) => daemon.port)));
  for (const daemon of wanted) if (!open.has(daemon.port)) skipped.push(`${daemon.name} on ${daemon.port}: did not start listening`);
  const stop = (): void => {
    for (const child of children) child.kill('SIGKILL');
    // postgres runs under runuser: kill what is left in the namespace's process list by pid.
    try {
      const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
    } catch {
      // namespace gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { running: wanted.filter((daemon) => open.has(daemon.port)), skipped, stop };
}
