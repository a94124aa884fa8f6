import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GraphQLError, GraphQLFormattedError } from 'graphql';
import type { RequestHandler } from 'express';
import type { Gatekeeper } from '../access/gatekeeper';
import { domainErrorOf, toGraphQLError } from '../graphql/errors';
import type { BusyShares } from '../primitives/busy-shares';
import type { Principal } from '../services/auth.service';

/**
 * Admission of a GraphQL request over HTTP before its body is read: the caller authenticated
 * from its `Authorization` header, counted against its key's and tenant's request rates, and
 * refused RATE_LIMITED (429, Retry-After) while its tenant's GraphQL cost budget is spent. A
 * tenant over its budget then costs a header lookup, not a body parse, a GraphQL parse and
 * validation (bench scenario 7: a tenant sending the heaviest queries the limits admit kept the
 * server's event loop busy 97% of the time, and another tenant's p99 went from 25 ms to 3 s).
 *
 * An admitted request then waits for its tenant's turn while the replica is busy (BusyShares:
 * TENANT_REQUESTS_WHEN_BUSY), still before its body is read, and holds it until its response is
 * sent or the client goes away; a long poll gives it back when it starts waiting (`leaveShare`).
 *
 * The admitted principal is kept for the request's context (`principal`), so a request is
 * authenticated and counted once. A request the middleware did not see (a GET) is admitted when
 * its context is built. A fault in admission (the database away) is left to the context's own
 * admission, which answers it as every other request's.
 */
export class HttpAdmission {
  private readonly admitted = new WeakMap<IncomingMessage, { principal: Principal; leaveShare: () => void }>();

  constructor(
    private readonly deps: {
      gatekeeper: Gatekeeper;
      /** Each tenant's share of a busy replica. */
      shares: BusyShares;
      /** REQUEST_BODY_MAX_BYTES: a body declared larger is left to the body parser's 413, whoever sends it. */
      maxBodyBytes: number;
      /** The GraphQL error formatter of every answer (masking). */
      formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
    },
  ) {}

  /** Express middleware for the GraphQL path, before the body parser. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      if (req.method !== 'POST' || Number(req.headers['content-length'] ?? 0) > this.deps.maxBodyBytes) {
        next();
        return;
      }
      this.admit(req, res).then(
        () => next(),
        (e: unknown) => {
          const domain = domainErrorOf(e);
          // Not a refusal: the context's admission meets the fault again and answers it.
          if (!domain) {
            next();
            return;
          }
          const error: GraphQLError = toGraphQLError(domain, true);
          const { http, ...extensions } = error.extensions as { http?: { status: number; headers?: Map<string, string> } };
          for (const [name, value] of http?.headers ?? []) res.setHeader(name, value);
          // The body (at most REQUEST_BODY_MAX_BYTES) is not parsed: node discards it once the
          // answer is sent, and the connection stays open for the next request.
          res
            .status(http?.status ?? 400)
            .type('application/json')
            .send(JSON.stringify({ errors: [this.deps.formatError({ message: error.message, extensions }, error)] }));
        },
      );
    };
  }

  /**
   * The principal of a request and the release of its turn (`leaveShare`, idempotent): admitted
   * before its body was read, or admitted now.
   */
  async admission(req: IncomingMessage, res: ServerResponse, ip: string): Promise<{ principal: Principal; leaveShare: () => void }> {
    return this.admitted.get(req) ?? this.admitNow(req, res, ip);
  }

  private admit(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    return this.admitNow(req, res, (req as { ip?: string }).ip ?? this.deps.gatekeeper.clientIp(req));
  }

  private async admitNow(req: IncomingMessage, res: ServerResponse, ip: string): Promise<{ principal: Principal; leaveShare: () => void }> {
    const { gatekeeper, shares } = this.deps;
    // Sent, or the client went away (even while it was admitted or waited): either way the
    // request no longer executes. Listened for first: a `close` is not emitted again.
    let closed = res.closed;
    let leave: (() => void) | null = null;
    res.once('close', () => {
      closed = true;
      leave?.();
    });
    const principal = await gatekeeper.authenticate(req.headers.authorization, { ip, transport: 'http' });
    await gatekeeper.admitRequest(principal);
    const leaveShare = (leave = await shares.enter(principal.tenantId));
    if (closed || res.closed) leaveShare();
    const admitted = { principal, leaveShare };
    this.admitted.set(req, admitted);
    return admitted;
  }
}
