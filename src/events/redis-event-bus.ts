import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { PerTick } from '../primitives/per-tick';
import { LocalFanout, type EventBus, type ReadyBuiltIn, type ReadyListener, type Unsubscribe } from './event-bus';
import type { RunEvent } from '../domain/model';
import { connectRedis } from '../startup/redis-connect';

/** JSON has no undefined: the built-in (queue-less) steps travel as this marker. */
const BUILT_IN = '\u0000builtin';
/**
 * A ready message starts with its sender's marker, so the sender skips its own echo (it woke its
 * own scheduler and long polls at once). Replicas that predate the marker read it as the name
 * of a queue nobody serves: harmless during a rolling upgrade.
 */
const FROM = '\u0000from:';

/**
 * Redis pub/sub: every replica subscribes to one events channel and fans out locally by tenant.
 * One channel keeps subscribe/unsubscribe traffic off Redis when clients come and go.
 */
export class RedisEventBus implements EventBus {
  private readonly fanout = new LocalFanout();
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly eventsChannel: string;
  private readonly readyChannel: string;
  private readonly revokedChannel: string;
  private readonly origin = `${FROM}${randomUUID()}`;

  private constructor(url: string, prefix: string) {
    this.eventsChannel = `${prefix}events`;
    this.readyChannel = `${prefix}ready`;
    this.revokedChannel = `${prefix}revoked`;
    // Commands queue while reconnecting: a Redis restart delays events instead of failing requests.
    this.pub = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
    this.sub = new Redis(url, { lazyConnect: true });
    this.sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    // ioredis re-subscribes after a reconnect; errors are reported through readiness, not thrown.
    this.pub.on('error', () => undefined);
    this.sub.on('error', () => undefined);
    // Messages published while the subscriber was disconnected are gone: tell subscribers to
    // catch up from Postgres once it is back.
    let connectedBefore = false;
    this.sub.on('ready', () => {
      if (connectedBefore) this.fanout.resync();
      connectedBefore = true;
    });
  }

  static async connect(url: string, prefix: string): Promise<RedisEventBus> {
    const bus = new RedisEventBus(url, prefix);
    try {
      const [pub, sub] = await Promise.allSettled([connectRedis(bus.pub), connectRedis(bus.sub)]);
      if (pub.status === 'rejected') throw pub.reason;
      if (sub.status === 'rejected') throw sub.reason;
      await bus.sub.subscribe(bus.eventsChannel, bus.readyChannel, bus.revokedChannel);
    } catch (e: unknown) {
      // Nothing left reconnecting in the background after a failed start.
      bus.pub.disconnect();
      bus.sub.disconnect();
      throw e;
    }
    return bus;
  }

  private onMessage(channel: string, message: string): void {
    if (channel === this.eventsChannel) {
      const events = (JSON.parse(message) as (Omit<RunEvent, 'createdAt'> & { createdAt: string })[]).map((e) => ({
        ...e,
        createdAt: new Date(e.createdAt),
      }));
      this.fanout.deliver(events);
    } else if (channel === this.readyChannel) {
      const names = JSON.parse(message) as string[];
      if (names[0] === this.origin) return;
      this.fanout.deliverReady(names.filter((q) => !q.startsWith(FROM)).map((q) => (q === BUILT_IN ? null : q)));
    } else if (channel === this.revokedChannel) {
      const [from, ...ids] = JSON.parse(message) as string[];
      if (from !== this.origin) this.fanout.deliverRevoked(ids);
    }
  }

  /**
   * Events published in the same tick leave as ONE message, in order: under load every start,
   * claim and result publishes, and a PUBLISH each (plus its echo to every replica) was a
   * round trip each.
   */
  private readonly eventsOut = new PerTick<RunEvent>((events) => this.pub.publish(this.eventsChannel, JSON.stringify(events)));
  /**
   * Ready signals for other replicas: one message per tick naming every queue readied in it (a
   * PUBLISH per start was a third of the conductor's CPU at 400 starts/s, most of it in socket
   * writes).
   */
  private readonly readyOut = new PerTick<string>((queues) => this.pub.publish(this.readyChannel, JSON.stringify([this.origin, ...new Set(queues)])));

  async publish(events: readonly RunEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.eventsOut.add(events);
  }

  subscribe(tenantId: string, listener: (event: RunEvent) => void): Unsubscribe {
    return this.fanout.subscribe(tenantId, listener);
  }

  async signalReady(queues: readonly (string | null)[], builtIn?: readonly ReadyBuiltIn[]): Promise<void> {
    if (queues.length === 0) return;
    const unique = [...new Set(queues)];
    // This replica's scheduler and long polls wake now, not a Redis round trip later. Other
    // replicas hear only the queue: what their own shares allow is theirs to find out.
    this.fanout.deliverReady(unique, builtIn);
    await this.readyOut.add(unique.map((q) => q ?? BUILT_IN));
  }

  onReady(listener: ReadyListener): Unsubscribe {
    return this.fanout.onReady(listener);
  }

  onResync(listener: () => void): Unsubscribe {
    return this.fanout.onResync(listener);
  }

  /**
   * Delivered here at once, and to the other replicas through Redis. A revocation published
   * while a replica is cut off from Redis is not lost for good: every replica also re-checks the
   * keys of its open sockets against Postgres (see WsGuard).
   */
  async announceRevoked(apiKeyIds: readonly string[]): Promise<void> {
    if (apiKeyIds.length === 0) return;
    this.fanout.deliverRevoked(apiKeyIds);
    await this.pub.publish(this.revokedChannel, JSON.stringify([this.origin, ...apiKeyIds]));
  }

  onRevoked(listener: (apiKeyId: string) => void): Unsubscribe {
    return this.fanout.onRevoked(listener);
  }

  async ping(): Promise<void> {
    await Promise.all([this.pub.ping(), this.sub.ping()]);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.pub.quit(), this.sub.quit()]);
  }
}
