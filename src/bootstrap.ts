/**
 * The first module the entry point loads: configuration (a bad value ends the process with one
 * line naming the variable), then tracing, whose instrumentations must patch http, pg, ioredis
 * and graphql before anything else loads them.
 */
import { ConfigError, loadConfig, type Config } from './config';
import { initTracing, type Tracing } from './observability/tracing';

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (e: unknown) {
    if (e instanceof ConfigError) {
      // One line per bad variable: what `kubectl logs` shows during a CrashLoopBackOff.
      console.error(e.message);
      process.exit(78); // EX_CONFIG
    }
    throw e;
  }
}

export const config: Config = configOrExit();
export const tracing: Tracing | null = config.otlpEndpoint ? initTracing({ endpoint: config.otlpEndpoint, serviceName: config.serviceName }) : null;
