import { useState } from 'preact/hooks';
import { Problem, TextField } from './components';
import type { FeatureService } from './definitions';
import { useApi } from './hooks';

/** What a request reads: one feature service (the first registered unless picked) or a list of features. */
export function useFeatureChoice() {
  const services = useApi<{ items: FeatureService[] }>('registry', '/feature-services');
  const [mode, setMode] = useState<'service' | 'features'>('service');
  const [service, setService] = useState('');
  const [features, setFeatures] = useState('');
  return {
    services,
    mode,
    setMode,
    service: service || services.data?.items[0]?.name || '',
    setService,
    features,
    setFeatures,
    /** The features as typed, split on commas and white space. */
    featureList: features.split(/[\s,]+/).filter(Boolean),
  };
}

export type FeatureChoiceState = ReturnType<typeof useFeatureChoice>;

/** The fieldset of the lookup and export forms: a service or features, as radio buttons. */
export function FeatureChoice({
  choice,
  legend,
  name,
  featuresLabel,
}: {
  choice: FeatureChoiceState;
  legend: string;
  /** Names the radio group (`<name>-mode`) and the select's id (`<name>-service`). */
  name: string;
  featuresLabel: string;
}) {
  const { services, mode, setMode } = choice;
  return (
    <fieldset>
      <legend>{legend}</legend>
      <label class="inline">
        <input type="radio" name={`${name}-mode`} checked={mode === 'service'} onChange={() => setMode('service')} /> A
        feature service
      </label>
      <label class="inline">
        <input type="radio" name={`${name}-mode`} checked={mode === 'features'} onChange={() => setMode('features')} />{' '}
        Features
      </label>
      {mode === 'service' ? (
        <div class="field">
          <label for={`${name}-service`}>Feature service</label>
          <select
            id={`${name}-service`}
            value={choice.service}
            onChange={(e) => choice.setService(e.currentTarget.value)}
          >
            {(services.data?.items ?? []).map((s) => (
              <option key={s.name} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
        </div>
      ) : (
        <TextField
          label={featuresLabel}
          value={choice.features}
          placeholder="driver_hourly_stats:conv_rate"
          onInput={choice.setFeatures}
        />
      )}
      {services.error && <Problem error={services.error} what="reading the feature services" />}
    </fieldset>
  );
}
