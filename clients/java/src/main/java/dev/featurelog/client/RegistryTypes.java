package dev.featurelog.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The types of the registry's definitions at one registry version, as {@code GET /definitions} of the
 * registry app gives them: each view's features in order, each feature service's references, each
 * join key's type. Immutable: the client swaps in a newer snapshot when the serving app answers with
 * a newer {@code x-featurelog-registry-version}.
 */
final class RegistryTypes {
  final long version;
  private final Map<String, Map<String, ValueType>> views;
  private final Map<String, List<String>> services;
  private final Map<String, ValueType> joinKeys;

  private RegistryTypes(
      long version,
      Map<String, Map<String, ValueType>> views,
      Map<String, List<String>> services,
      Map<String, ValueType> joinKeys) {
    this.version = version;
    this.views = views;
    this.services = services;
    this.joinKeys = joinKeys;
  }

  /** Reads the body of {@code GET /definitions}; throws IllegalArgumentException when it is not that shape. */
  static RegistryTypes fromDefinitions(JsonNode body) {
    JsonNode objects = body.path("objects");
    if (!body.path("version").canConvertToLong() || !objects.isObject()) {
      throw new IllegalArgumentException("expected {\"version\", \"objects\"} from the registry's /definitions");
    }
    Map<String, Map<String, ValueType>> views = new HashMap<>();
    for (JsonNode view : objects.path("feature_view")) {
      Map<String, ValueType> features = new LinkedHashMap<>();
      for (JsonNode feature : view.path("features")) {
        ValueType type = ValueType.parse(feature.path("type").asText(null));
        // A type this client does not know yet is read by its JSON shape rather than refused.
        if (type != null) features.put(feature.path("name").asText(), type);
        else features.put(feature.path("name").asText(), null);
      }
      views.put(view.path("name").asText(), Collections.unmodifiableMap(features));
    }
    Map<String, List<String>> services = new HashMap<>();
    for (JsonNode service : objects.path("feature_service")) {
      List<String> references = new ArrayList<>();
      for (JsonNode reference : service.path("features")) references.add(reference.asText());
      services.put(service.path("name").asText(), List.copyOf(references));
    }
    Map<String, ValueType> joinKeys = new HashMap<>();
    for (JsonNode entity : objects.path("entity")) {
      for (JsonNode key : entity.path("joinKeys")) {
        ValueType type = ValueType.parse(key.path("type").asText(null));
        if (type != null) joinKeys.putIfAbsent(key.path("name").asText(), type);
      }
    }
    return new RegistryTypes(body.path("version").longValue(), views, services, joinKeys);
  }

  /**
   * Column name → type for the columns a request's answer has, as the server names them (join keys
   * as given, then {@code feature} or {@code view__feature}). References the registry does not know
   * are left out (their columns are read by JSON shape; the server refuses unknown ones anyway).
   */
  Map<String, ValueType> columnTypes(OnlineFeaturesRequest request) {
    Map<String, ValueType> columns = new HashMap<>();
    for (String key : request.entities().keySet()) {
      ValueType type = joinKeys.get(key);
      if (type != null) columns.put(key, type);
    }
    List<String> references =
        request.featureService() != null
            ? services.getOrDefault(request.featureService(), List.of())
            : request.features();
    for (String reference : references) {
      int colon = reference.indexOf(':');
      if (colon < 0) continue;
      String viewName = reference.substring(0, colon);
      String featureName = reference.substring(colon + 1);
      Map<String, ValueType> view = views.get(viewName);
      if (view == null) continue;
      if (featureName.equals("*")) {
        for (Map.Entry<String, ValueType> feature : view.entrySet()) {
          put(columns, columnName(viewName, feature.getKey(), request.fullFeatureNames()), feature.getValue());
        }
      } else if (view.containsKey(featureName)) {
        put(columns, columnName(viewName, featureName, request.fullFeatureNames()), view.get(featureName));
      }
    }
    return columns;
  }

  private static void put(Map<String, ValueType> columns, String name, ValueType type) {
    if (type != null) columns.put(name, type);
  }

  static String columnName(String view, String feature, boolean fullFeatureNames) {
    return fullFeatureNames ? view + "__" + feature : feature;
  }
}
