/**
 * Where this conductor can call itself (an http step whose `url` is a path such as `/healthz`):
 * loopback when it listens on every interface or on loopback, else the address it listens on.
 */
export function conductorOrigin(host: string, port: number): string {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === '' || h === '0.0.0.0' || h === 'localhost' || h.startsWith('127.')) return `http://127.0.0.1:${port}`;
  if (h === '::' || h === '::1') return `http://[::1]:${port}`;
  return h.includes(':') ? `http://[${h}]:${port}` : `http://${h}:${port}`;
}
