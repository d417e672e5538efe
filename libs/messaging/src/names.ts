/**
 * Every JetStream stream, consumer, subject and object-store bucket name, derived from one prefix
 * (NATS_PREFIX, default `sentinel`) so that test runs and deployments sharing a server never collide.
 */
export interface NatsNames {
  /** Work-queue stream that carries one message per evaluation to run. */
  jobsStream: string;
  jobsSubject: string;
  /** The one durable pull consumer every worker shares. */
  workersConsumer: string;
  activationsBucket: string;
  saesBucket: string;
  /** `<prefix>.alerts.<project>.<runId>` carries alert changes. */
  alertsSubject(project: string, runId: string): string;
  alertsWildcard: string;
}

export function natsNames(prefix: string): NatsNames {
  const upper = prefix.toUpperCase().replace(/-/g, '_');
  return {
    jobsStream: `${upper}_JOBS`,
    jobsSubject: `${prefix}.jobs.evaluate`,
    workersConsumer: `${prefix}-workers`,
    activationsBucket: `${prefix}-activations`,
    saesBucket: `${prefix}-saes`,
    alertsSubject: (project, runId) => `${prefix}.alerts.${subjectToken(project)}.${subjectToken(runId)}`,
    alertsWildcard: `${prefix}.alerts.>`,
  };
}

/** NATS subject tokens cannot hold '.', '*', '>' or whitespace. */
function subjectToken(value: string): string {
  return value.replace(/[.*>\s]/g, '_');
}
