import type { Redis } from 'ioredis';

/**
 * Connects an ioredis client created with `lazyConnect`, or throws the reason it could not. Left
 * alone, ioredis retries a refused first connection for about 24 s (measured) and then rejects
 * with "Connection is closed.", naming nothing; here the first attempt decides (the caller's
 * STARTUP_WAIT_MS does the waiting), the socket's own error is thrown (ECONNREFUSED, WRONGPASS,
 * …), and a failed client is stopped. Once connected, the client's own retry strategy rides out
 * later outages.
 */
export async function connectRedis(client: Redis): Promise<void> {
  let last: Error | null = null;
  const onError = (e: Error) => {
    last ??= e;
  };
  const retryStrategy = client.options.retryStrategy;
  client.options.retryStrategy = () => null;
  client.on('error', onError);
  try {
    await client.connect();
  } catch (e: unknown) {
    client.disconnect();
    throw last ?? e;
  } finally {
    client.options.retryStrategy = retryStrategy;
    client.off('error', onError);
  }
}
