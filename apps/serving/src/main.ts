import { runAppMain } from '@featurelog/runtime';
import { servingApp } from './serving-app';

runAppMain(servingApp, undefined, (config) => {
  // Key names and scopes only: the keys themselves are never printed.
  const keys = config.serving?.apiKeys ?? [];
  const access =
    keys.length === 0
      ? 'no API keys configured: every request is accepted'
      : `API keys: ${keys.map((key) => `${key.name} (${key.scopes.join(',')})`).join(', ')}`;
  return `(docs at /docs); ${access}`;
});
