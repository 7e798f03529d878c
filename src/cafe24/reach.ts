import { isIP, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export type RouteProbe =
  | { ok: true; host: string; port: number; ms: number; tls: boolean }
  | {
      ok: false;
      host: string;
      port: number;
      /** `timeout` and `unreachable` are what a missing NAT gateway looks like from a private subnet. */
      kind: 'timeout' | 'unreachable' | 'dns' | 'refused' | 'tls' | 'other';
      message: string;
    };

/**
 * Opens a TCP connection (and a TLS handshake for https) to the Cafe24 API host, within the token
 * client's connect timeout, and closes it: the route a token request would take, without a request.
 */
export function probeRoute(apiBaseUrl: string, mallId: string, timeoutMs: number): Promise<RouteProbe> {
  const url = new URL(apiBaseUrl.replaceAll('{mall_id}', mallId));
  const tls = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (tls ? 443 : 80));
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = tls
      ? tlsConnect({ host, port, timeout: timeoutMs, ...(isIP(host) ? {} : { servername: host }) })
      : tcpConnect({ host, port, timeout: timeoutMs });
    const done = (result: RouteProbe) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    // The socket's `timeout` is for idleness; this bounds the connect (and handshake) itself.
    const timer = setTimeout(
      () =>
        done({
          ok: false,
          host,
          port,
          kind: 'timeout',
          message: `no connection to ${host}:${port} within ${timeoutMs} ms`,
        }),
      timeoutMs,
    );
    socket.once(tls ? 'secureConnect' : 'connect', () =>
      done({ ok: true, host, port, ms: Date.now() - started, tls }),
    );
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? '';
      const kind: Extract<RouteProbe, { ok: false }>['kind'] =
        code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? 'dns'
          : code === 'ECONNREFUSED'
            ? 'refused'
            : code === 'ENETUNREACH' || code === 'EHOSTUNREACH'
              ? 'unreachable'
              : code === 'ETIMEDOUT'
                ? 'timeout'
                : code.startsWith('ERR_TLS') ||
                    code.startsWith('ERR_SSL') ||
                    /certificate|SSL/i.test(error.message)
                  ? 'tls'
                  : 'other';
      done({ ok: false, host, port, kind, message: `${code || 'error'}: ${error.message}` });
    });
  });
}
