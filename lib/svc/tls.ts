// The TLS probe: a handshake through node:tls on an open connection, the certificate and session
// described, then the HTTP probe inside the tunnel. Nothing is verified: a scanner reports what a
// server presents, broken or self-signed alike.
import type { Socket } from 'node:net';
import { connect as tlsConnect, type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import { errorCode } from './exchange.js';

export interface TlsInfo {
  /** TLSv1.3, TLSv1.2, ... as negotiated. */
  protocol?: string;
  cipher?: string;
  /** The ALPN protocol the server chose, if it chose one. */
  alpn?: string;
  subject?: string;
  san?: string[];
  issuer?: string;
  not_before?: string;
  not_after?: string;
  self_signed?: boolean;
}

/** A certificate name as a string: CN if there is one, else the fields in order ("O=x, C=y"). */
function distinguished(name: Record<string, string | string[]> | undefined): string | undefined {
  if (!name) return undefined;
  const cn = name.CN;
  if (cn !== undefined) return [cn].flat().join(', ');
  const parts = Object.entries(name).map(([key, value]) => `${key}=${[value].flat().join('+')}`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

const isoDate = (text: string | undefined): string | undefined => {
  if (!text) return undefined;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
};

/** What the session and its leaf certificate say; fields the server did not give are left out. */
export function describeSession(tls: TLSSocket): TlsInfo {
  const info: TlsInfo = {};
  const protocol = tls.getProtocol();
  if (protocol) info.protocol = protocol;
  const cipher = tls.getCipher()?.name;
  if (cipher) info.cipher = cipher;
  if (typeof tls.alpnProtocol === 'string') info.alpn = tls.alpnProtocol;
  let cert: DetailedPeerCertificate | undefined;
  try {
    cert = tls.getPeerCertificate(true);
  } catch {
    // A certificate node cannot decode: the session is still described.
  }
  if (!cert || Object.keys(cert).length === 0) return info;
  const subject = distinguished(cert.subject as unknown as Record<string, string> | undefined);
  if (subject) info.subject = subject;
  const san = cert.subjectaltname
    ?.split(', ')
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
    .filter(Boolean);
  if (san && san.length > 0) info.san = san;
  const issuer = distinguished(cert.issuer as unknown as Record<string, string> | undefined);
  if (issuer) info.issuer = issuer;
  const notBefore = isoDate(cert.valid_from);
  const notAfter = isoDate(cert.valid_to);
  if (notBefore) info.not_before = notBefore;
  if (notAfter) info.not_after = notAfter;
  // node links a self-signed certificate to itself as its own issuer.
  if (cert.fingerprint256 && cert.issuerCertificate) info.self_signed = cert.issuerCertificate.fingerprint256 === cert.fingerprint256;
  return info;
}

/**
 * Handshake on `socket` within `timeoutMs`. `serverName` goes out as SNI (a host name from the record,
 * never an address: RFC 6066 3). Old protocol versions and ciphers are allowed so old servers are seen.
 */
export function handshake(socket: Socket, serverName: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<TLSSocket | string> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve('aborted');
    const tls = tlsConnect({
      socket,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      minVersion: 'TLSv1',
      ciphers: 'ALL:@SECLEVEL=0',
      ...(serverName ? { servername: serverName } : {}),
    });
    const done = (outcome: TLSSocket | string): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      tls.off('secureConnect', onSecure);
      tls.off('error', onError);
      tls.off('close', onClose);
      if (typeof outcome === 'string') tls.destroy();
      else tls.on('error', () => undefined);
      resolve(outcome);
    };
    const onSecure = (): void => done(tls);
    const onError = (err: Error): void => done(`tls: ${errorCode(err)}`);
    const onClose = (): void => done('tls: closed during the handshake');
    const onAbort = (): void => done('aborted');
    const timer = setTimeout(() => done(`tls: no handshake in ${timeoutMs} ms`), timeoutMs);
    tls.once('secureConnect', onSecure);
    tls.once('error', onError);
    tls.once('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
