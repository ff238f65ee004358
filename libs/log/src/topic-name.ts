import { FeaturelogError } from '@featurelog/domain';

/** Kafka's rule, applied by both logs so that a name valid on one is valid on the other. */
const legalTopicName = /^[a-zA-Z0-9._-]{1,249}$/;

export function assertTopicName(name: string): void {
  if (!legalTopicName.test(name) || name === '.' || name === '..') {
    throw new FeaturelogError(
      'LOG_TOPIC_NAME_INVALID',
      `topic name ${JSON.stringify(name)} is not valid: use 1-249 of a-z A-Z 0-9 . _ -`,
    );
  }
}
