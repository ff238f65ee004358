package dev.featurelog.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The client against the real serving (and registry) app of the environment CLIENTS-CONTRACT.md
 * describes: FEATURELOG_SERVING_URL, FEATURELOG_REGISTRY_URL, FEATURELOG_API_KEY, FEATURELOG_CLIENT_CASES.
 * Skipped, saying so, when FEATURELOG_SERVING_URL is absent (the CI harness always sets it).
 *
 * <p>The expected values are the raw HTTP answers of the cases file, read here by this test's own
 * reading of the documented JSON encoding and the types the registry's API gives (not the client's
 * code), and compared typed: numbers equal, timestamps equal instants, bytes equal.
 */
class LiveServingTest {
  private static final String SERVING = System.getenv("FEATURELOG_SERVING_URL");
  private static final String REGISTRY = System.getenv("FEATURELOG_REGISTRY_URL");
  private static final String KEY = System.getenv("FEATURELOG_API_KEY");
  private static final String CASES = System.getenv("FEATURELOG_CLIENT_CASES");
  private static final HttpClient RAW = HttpClient.newHttpClient();

  private static final String SKIPPED =
      "FEATURELOG_SERVING_URL is not set: the live tests against the serving app are skipped (the unit tests"
          + " still ran); set FEATURELOG_SERVING_URL, FEATURELOG_REGISTRY_URL, FEATURELOG_API_KEY and"
          + " FEATURELOG_CLIENT_CASES as in clients/java/README.md";

  @BeforeAll
  static void sayWhyWhenSkipped() {
    // Surefire's console names skipped tests without their reason: say it once, in the build's output.
    if (SERVING == null || SERVING.isEmpty()) System.err.println("LiveServingTest: " + SKIPPED);
  }

  @BeforeEach
  void needsTheServingApp() {
    assumeTrue(SERVING != null && !SERVING.isEmpty(), SKIPPED);
  }

  private static FeaturelogClient.Builder client() {
    FeaturelogClient.Builder builder =
        FeaturelogClient.builder().url(SERVING).apiKey(KEY).timeout(Duration.ofSeconds(10)).retries(2, Duration.ofMillis(200));
    return REGISTRY == null || REGISTRY.isEmpty() ? builder : builder.registryUrl(REGISTRY);
  }

  @Test
  void everyCaseGivesTheSameValuesAndStatusesAsTheRawHttpAnswer() throws Exception {
    assumeTrue(
        CASES != null && !CASES.isEmpty(),
        "FEATURELOG_CLIENT_CASES is not set: no cases file of raw HTTP answers to compare the client with");
    assumeTrue(
        REGISTRY != null && !REGISTRY.isEmpty(),
        "FEATURELOG_REGISTRY_URL is not set: the cases are compared with their types from the registry");
    JsonNode cases = FeaturelogClient.JSON.readTree(Files.readAllBytes(Path.of(CASES))).path("cases");
    assertTrue(cases.isArray() && cases.size() > 0, "the cases file " + CASES + " has no cases");
    JsonNode definitions = rawGet(REGISTRY + "/definitions");
    FeaturelogClient client = client().build();
    int checked = 0;
    for (JsonNode c : cases) {
      String name = c.path("name").asText();
      JsonNode request = c.path("request");
      JsonNode expected = c.path("response");
      OnlineFeaturesResponse answer = client.getOnlineFeatures(requestOf(request));
      Map<String, String> columnTypes = columnTypes(definitions, request);
      List<String> names = new ArrayList<>();
      expected.path("metadata").path("feature_names").forEach(n -> names.add(n.asText()));
      assertEquals(names, answer.featureNames(), name + ": the columns");
      for (int col = 0; col < names.size(); col++) {
        String column = names.get(col);
        JsonNode result = expected.path("results").get(col);
        assertEquals(result.path("values").size(), answer.rowCount(), name + ": rows");
        for (int row = 0; row < answer.rowCount(); row++) {
          String where = name + ": " + column + " row " + row;
          assertEquals(result.path("statuses").get(row).asText(), answer.status(row, column).name(), where);
          assertEquals(Instant.parse(result.path("event_timestamps").get(row).asText()), answer.eventTimestamp(row, column), where);
          assertSameValue(where, columnTypes.get(column), result.path("values").get(row), answer.value(row, column));
          checked++;
        }
      }
    }
    assertTrue(checked > 0, "no value was compared");
  }

  @Test
  void anUnknownFeatureIsTheServersError() throws Exception {
    String view = aViewName();
    Map<String, List<?>> entities = Map.of(joinKeyOf(view), List.of(1L));
    FeaturelogException e =
        assertThrows(
            FeaturelogException.class,
            () -> client().build().getOnlineFeatures(OnlineFeaturesRequest.features(List.of(view + ":no_such_feature_xyz")).entities(entities)));
    HttpResponse<String> raw =
        rawPost(
            "{\"features\":[\"" + view + ":no_such_feature_xyz\"],\"entities\":{\"" + joinKeyOf(view) + "\":[1]}}", KEY);
    JsonNode error = FeaturelogClient.JSON.readTree(raw.body());
    assertEquals(error.path("code").asText(), e.code());
    assertEquals("UNKNOWN_FEATURE", e.code());
    assertEquals(raw.statusCode(), e.statusCode());
    assertEquals(error.path("message").asText(), e.getMessage());
    assertFalse(e.retriable());
  }

  @Test
  void aWrongKeyIs401() {
    String wrong = "wrong-key-for-the-java-client-test";
    FeaturelogException e =
        assertThrows(
            FeaturelogException.class,
            () -> FeaturelogClient.builder().url(SERVING).apiKey(wrong).build().getOnlineFeatures(
                OnlineFeaturesRequest.features(List.of("driver_hourly_stats:conv_rate")).entities(Map.of("driver_id", List.of(1001L)))));
    assertEquals(401, e.statusCode());
    assertEquals("UNAUTHENTICATED", e.code());
    assertFalse(e.retriable());
    assertFalse(e.toString().contains(wrong));
  }

  @Test
  void theAsyncVariantGivesWhatTheSyncOneGives() throws Exception {
    String view = aViewName();
    OnlineFeaturesRequest request =
        OnlineFeaturesRequest.features(List.of(view + ":*")).entities(Map.of(joinKeyOf(view), List.of(1001L, -1L)));
    FeaturelogClient client = client().build();
    OnlineFeaturesResponse sync = client.getOnlineFeatures(request);
    OnlineFeaturesResponse async = client.getOnlineFeaturesAsync(request).get();
    assertEquals(sync.featureNames(), async.featureNames());
    assertEquals(FieldStatus.NOT_FOUND, async.status(1, sync.featureNames().get(1)));
    assertNull(async.value(1, sync.featureNames().get(1)));
  }

  // --- the request of a case, and what the raw answer means ----------------------------------

  private static OnlineFeaturesRequest requestOf(JsonNode body) {
    OnlineFeaturesRequest request;
    if (body.hasNonNull("feature_service")) {
      request = OnlineFeaturesRequest.featureService(body.path("feature_service").asText());
    } else {
      List<String> features = new ArrayList<>();
      body.path("features").forEach(f -> features.add(f.asText()));
      request = OnlineFeaturesRequest.features(features);
    }
    Map<String, List<?>> entities = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> key : body.path("entities").properties()) {
      List<Object> values = new ArrayList<>();
      for (JsonNode v : key.getValue()) {
        values.add(v.isIntegralNumber() ? (Object) v.longValue() : v.isBoolean() ? (Object) v.booleanValue() : v.isNull() ? null : v.asText());
      }
      entities.put(key.getKey(), values);
    }
    return request.entities(entities).fullFeatureNames(body.path("full_feature_names").asBoolean(false));
  }

  /** Column → registry type for a request, from the raw /definitions (independently of the client). */
  private static Map<String, String> columnTypes(JsonNode definitions, JsonNode request) {
    JsonNode objects = definitions.path("objects");
    boolean full = request.path("full_feature_names").asBoolean(false);
    Map<String, String> out = new HashMap<>();
    for (JsonNode entity : objects.path("entity")) {
      for (JsonNode key : entity.path("joinKeys")) out.put(key.path("name").asText(), key.path("type").asText());
    }
    List<String> refs = new ArrayList<>();
    if (request.hasNonNull("feature_service")) {
      for (JsonNode service : objects.path("feature_service")) {
        if (service.path("name").asText().equals(request.path("feature_service").asText())) {
          service.path("features").forEach(f -> refs.add(f.asText()));
        }
      }
    } else {
      request.path("features").forEach(f -> refs.add(f.asText()));
    }
    for (String ref : refs) {
      String view = ref.substring(0, ref.indexOf(':'));
      String feature = ref.substring(ref.indexOf(':') + 1);
      for (JsonNode v : objects.path("feature_view")) {
        if (!v.path("name").asText().equals(view)) continue;
        for (JsonNode f : v.path("features")) {
          if (feature.equals("*") || feature.equals(f.path("name").asText())) {
            out.put(full ? view + "__" + f.path("name").asText() : f.path("name").asText(), f.path("type").asText());
          }
        }
      }
    }
    return out;
  }

  private static void assertSameValue(String where, String type, JsonNode raw, Object actual) {
    assertNotNull(type, where + ": the registry gives no type for the column");
    if (raw.isNull()) {
      assertNull(actual, where);
      return;
    }
    if (type.startsWith("list<")) {
      List<?> items = assertInstanceOf(List.class, actual, where);
      assertEquals(raw.size(), items.size(), where);
      String element = type.substring(5, type.length() - 1);
      for (int i = 0; i < items.size(); i++) assertSameValue(where + "[" + i + "]", element, raw.get(i), items.get(i));
      return;
    }
    switch (type) {
      case "bool":
        assertEquals(raw.booleanValue(), assertInstanceOf(Boolean.class, actual, where), where);
        break;
      case "int32":
        assertEquals(Integer.parseInt(raw.asText()), assertInstanceOf(Integer.class, actual, where), where);
        break;
      case "int64":
        assertEquals(Long.parseLong(raw.asText()), assertInstanceOf(Long.class, actual, where), where);
        break;
      case "float32":
        // Float.compare: NaN equals NaN, and -0 is not 0.
        assertEquals(0, Float.compare(rawFloat(raw), assertInstanceOf(Float.class, actual, where)), where + ": " + raw + " vs " + actual);
        break;
      case "float64":
        assertEquals(0, Double.compare(rawDouble(raw), assertInstanceOf(Double.class, actual, where)), where + ": " + raw + " vs " + actual);
        break;
      case "string":
        assertEquals(raw.textValue(), assertInstanceOf(String.class, actual, where), where);
        break;
      case "bytes":
        assertArrayEquals(Base64.getDecoder().decode(raw.textValue()), assertInstanceOf(byte[].class, actual, where), where);
        break;
      case "timestamp":
        assertEquals(Instant.parse(raw.textValue()), assertInstanceOf(Instant.class, actual, where), where);
        break;
      default:
        throw new AssertionError(where + ": a type this test does not know: " + type);
    }
  }

  private static double rawDouble(JsonNode raw) {
    return raw.isTextual() ? Double.parseDouble(raw.textValue()) : Double.parseDouble(raw.asText());
  }

  /** Math.fround(Number(text)), as the server's float32 text is defined. */
  private static float rawFloat(JsonNode raw) {
    return (float) rawDouble(raw);
  }

  // --- the registry and raw HTTP ---------------------------------------------------------------

  private static String aViewName() throws IOException, InterruptedException {
    if (REGISTRY == null || REGISTRY.isEmpty()) return "driver_hourly_stats";
    for (JsonNode view : rawGet(REGISTRY + "/definitions").path("objects").path("feature_view")) {
      if (view.path("name").asText().equals("driver_hourly_stats")) return "driver_hourly_stats";
    }
    return rawGet(REGISTRY + "/definitions").path("objects").path("feature_view").get(0).path("name").asText();
  }

  private static String joinKeyOf(String view) throws IOException, InterruptedException {
    if (REGISTRY == null || REGISTRY.isEmpty()) return "driver_id";
    JsonNode objects = rawGet(REGISTRY + "/definitions").path("objects");
    for (JsonNode v : objects.path("feature_view")) {
      if (!v.path("name").asText().equals(view)) continue;
      String entity = v.path("entities").get(0).asText();
      for (JsonNode e : objects.path("entity")) {
        if (e.path("name").asText().equals(entity)) return e.path("joinKeys").get(0).path("name").asText();
      }
    }
    return "driver_id";
  }

  private static JsonNode rawGet(String url) throws IOException, InterruptedException {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).GET();
    if (KEY != null) request.header("Authorization", "Bearer " + KEY);
    HttpResponse<String> answer = RAW.send(request.build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, answer.statusCode(), url + ": " + answer.body());
    return FeaturelogClient.JSON.readTree(answer.body());
  }

  private static HttpResponse<String> rawPost(String body, String key) throws IOException, InterruptedException {
    HttpRequest.Builder request =
        HttpRequest.newBuilder(URI.create(SERVING + "/get-online-features"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body));
    if (key != null) request.header("Authorization", "Bearer " + key);
    return RAW.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }
}
