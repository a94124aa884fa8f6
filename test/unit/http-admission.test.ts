import { once } from 'node:events';
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import type { Gatekeeper } from '../../src/access/gatekeeper';
import { ManualClock } from '../../src/domain/manual-clock';
import { HttpAdmission } from '../../src/http/admission';
import { BusyShares } from '../../src/primitives/busy-shares';

/** A turn taken for a request whose client went away while it was being admitted is given back (loopback only). */
describe('HttpAdmission and busy shares', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  it('gives back the turn of a request whose client left during its admission', async () => {
    const shares = new BusyShares({
      perTenant: 1,
      busyAt: 0.7,
      maxWaitMs: 5_000,
      maxQueued: 10,
      clock: new ManualClock(0),
      refuse: () => new Error('refused'),
    });
    let admit!: () => void;
    const admitted = new Promise<void>((resolve) => (admit = resolve));
    const gatekeeper = {
      clientIp: () => '127.0.0.1',
      authenticate: async () => ({ tenantId: 't', apiKeyId: null, admin: false }),
      admitRequest: () => admitted,
    } as unknown as Gatekeeper;
    const admission = new HttpAdmission({ gatekeeper, shares, maxBodyBytes: 1_000, formatError: (f) => f });
    const app = express();
    const closed: Promise<unknown>[] = [];
    app.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
      closed.push(once(res, 'close'));
      next();
    });
    app.use(admission.middleware(), (_req, res) => res.end('ok'));
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => new Promise((r) => server.close(() => r())));
    const port = (server.address() as AddressInfo).port;

    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-type': 'application/json', 'content-length': '2' } });
    req.on('error', () => undefined);
    req.write('{}');
    // The server has the request (its admission waits), then the client goes away.
    while (closed.length === 0) await new Promise((r) => setImmediate(r));
    req.destroy();
    await closed[0];
    // Admitted only now: the turn it is granted goes back at once.
    admit();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(shares.counts('t')).toEqual({ executing: 0, waiting: 0 });
  });
});
