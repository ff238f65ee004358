package dev.featurelog.client;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A get-online-features request: the features (a list of {@code view:feature} or {@code view:*}) or
 * a feature service, the entity rows (join key → one value per row) and whether columns are named
 * {@code view__feature}. Immutable; each {@code with…} method returns a new request.
 *
 * <pre>{@code
 * OnlineFeaturesRequest.features(List.of("driver_hourly_stats:conv_rate"))
 *     .entities(Map.of("driver_id", List.of(1001L, 1002L)))
 *     .fullFeatureNames(true);
 * }</pre>
 *
 * <p>Join key values: {@link Long}/{@link Integer}/{@link Short} (an int64 past 2^53 is sent as a
 * string of digits, as the server requires), {@link String}, {@code byte[]} (sent as base64),
 * {@link Boolean}.
 */
public final class OnlineFeaturesRequest {
  private final List<String> features;
  private final String featureService;
  private final Map<String, List<?>> entities;
  private final boolean fullFeatureNames;

  private OnlineFeaturesRequest(
      List<String> features, String featureService, Map<String, List<?>> entities, boolean fullFeatureNames) {
    this.features = features;
    this.featureService = featureService;
    this.entities = entities;
    this.fullFeatureNames = fullFeatureNames;
  }

  /** Features by reference: {@code view:feature} or {@code view:*}. */
  public static OnlineFeaturesRequest features(List<String> features) {
    Objects.requireNonNull(features, "features");
    if (features.isEmpty()) throw new IllegalArgumentException("features must name at least one view:feature");
    for (String reference : features) {
      if (reference == null || reference.indexOf(':') < 1) {
        throw new IllegalArgumentException("features must be \"view:feature\" references, got " + reference);
      }
    }
    return new OnlineFeaturesRequest(List.copyOf(features), null, Map.of(), false);
  }

  /** The features of a feature service of the registry. */
  public static OnlineFeaturesRequest featureService(String name) {
    if (name == null || name.isEmpty()) throw new IllegalArgumentException("featureService must be a non-empty name");
    return new OnlineFeaturesRequest(null, name, Map.of(), false);
  }

  /** The entity rows: join key → one value per row, every list equally long (kept in the map's order). */
  public OnlineFeaturesRequest entities(Map<String, ? extends List<?>> entities) {
    Objects.requireNonNull(entities, "entities");
    if (entities.isEmpty()) throw new IllegalArgumentException("entities must name at least one join key");
    Map<String, List<?>> copy = new LinkedHashMap<>();
    int rows = -1;
    String first = null;
    for (Map.Entry<String, ? extends List<?>> entry : entities.entrySet()) {
      List<?> values = Objects.requireNonNull(entry.getValue(), () -> "entities \"" + entry.getKey() + "\"");
      if (rows < 0) {
        rows = values.size();
        first = entry.getKey();
      } else if (values.size() != rows) {
        throw new IllegalArgumentException(
            "entities lists must all have the same length: \""
                + first
                + "\" has "
                + rows
                + " values, \""
                + entry.getKey()
                + "\" has "
                + values.size());
      }
      copy.put(entry.getKey(), Collections.unmodifiableList(new java.util.ArrayList<>(values)));
    }
    return new OnlineFeaturesRequest(features, featureService, Collections.unmodifiableMap(copy), fullFeatureNames);
  }

  /** Name the feature columns {@code view__feature} instead of {@code feature}. */
  public OnlineFeaturesRequest fullFeatureNames(boolean fullFeatureNames) {
    return new OnlineFeaturesRequest(features, featureService, entities, fullFeatureNames);
  }

  /** The feature references, or null when the request names a feature service. */
  public List<String> features() {
    return features;
  }

  /** The feature service, or null when the request lists features. */
  public String featureService() {
    return featureService;
  }

  public Map<String, List<?>> entities() {
    return entities;
  }

  public boolean fullFeatureNames() {
    return fullFeatureNames;
  }

  /** How many entity rows the request has. */
  public int rowCount() {
    return entities.isEmpty() ? 0 : entities.values().iterator().next().size();
  }

  @Override
  public String toString() {
    return "OnlineFeaturesRequest{"
        + (featureService != null ? "featureService=" + featureService : "features=" + features)
        + ", joinKeys="
        + entities.keySet()
        + ", rows="
        + rowCount()
        + ", fullFeatureNames="
        + fullFeatureNames
        + "}";
  }
}
