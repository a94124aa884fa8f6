/**
 * Entry point: `npm start`. Reads the environment, builds the app, drains on SIGTERM/SIGINT.
 */
import 'reflect-metadata';
// Must stay first: it sets up tracing before the modules it instruments load.
import { config, tracing } from './bootstrap';
import { createApp } from './app';
import { coerceError } from './domain/errors';
import { StartupError } from './startup/describe';

async function main(): Promise<void> {
  const app = await createApp(config);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      app.logger.warn({ signal }, 'second signal: exiting without draining');
      process.exit(1);
    }
    app.logger.info({ signal }, 'shutting down');
    app
      .stop()
      .then(() => tracing?.shutdown())
      // The last lines ("stopped") must reach stdout before the process exits.
      .then(() => new Promise<void>((resolve) => app.logger.flush(() => resolve())))
      .then(
        () => process.exit(0),
        (e: unknown) => {
          app.logger.error({ err: coerceError(e) }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((e: unknown) => {
  // A dependency that cannot be reached is named with its variable, host and port (never its password).
  const where =
    e instanceof StartupError
      ? { dependency: e.target.dependency, variable: e.target.variable, host: e.target.host, port: e.target.port, reason: e.reason }
      : {};
  console.error(JSON.stringify({ level: 'fatal', msg: 'start-up failed', error: coerceError(e).message, ...where }));
  process.exit(1);
});
