package dev.featurelog.client;

import static dev.featurelog.client.FakeServer.json;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The client against a scripted fake of the serving and registry apps (FakeServer). */
class FeaturelogClientTest {
  private static final String KEY = "unit-test-key-7f3a9c1e5b";
  private static final String ONLINE = "/get-online-features";
  private static final String DEFINITIONS = "/definitions";

  /** Every type of libs/domain value-types.ts, as the registry's GET /definitions writes them. */
  private static final String DEFINITIONS_V1 =
      """
      {"version":1,"objects":{
        "entity":[{"name":"driver","joinKeys":[{"name":"driver_id","type":"int64"}]}],
        "data_source":[],
        "feature_view":[{"name":"all_types","version":1,"entities":["driver"],"ttlSeconds":0,"online":true,"offline":true,
          "features":[{"name":"f_bool","type":"bool"},{"name":"f_int32","type":"int32"},{"name":"f_int64","type":"int64"},
            {"name":"f_float32","type":"float32"},{"name":"f_float64","type":"float64"},{"name":"f_string","type":"string"},
            {"name":"f_bytes","type":"bytes"},{"name":"f_ts","type":"timestamp"},{"name":"f_list_f32","type":"list<float32>"},
            {"name":"f_list_ts","type":"list<timestamp>"},{"name":"f_list_bytes","type":"list<bytes>"}]},
          {"name":"stats","version":1,"entities":["driver"],"ttlSeconds":7200,"online":true,"offline":true,
          "features":[{"name":"conv_rate","type":"float64"},{"name":"trips","type":"int64"}]}],
        "feature_service":[{"name":"ranking","features":["stats:*"]}]}}
      """;

  private static final String EPOCH = "\"1970-01-01T00:00:00Z\"";
  private static final String T1 = "\"2026-12-02T03:06:03.000Z\"";

  /** Three entity rows: 1001 with every value, 1002 with nulls and edge values, 1003 unknown. */
  private static final String ALL_TYPES_ANSWER =
      """
      {"metadata":{"feature_names":["driver_id","f_bool","f_int32","f_int64","f_float32","f_float64","f_string",
        "f_bytes","f_ts","f_list_f32","f_list_ts","f_list_bytes"]},
       "results":[
        {"values":[1001,"9007199254740993",1003],"statuses":["PRESENT","PRESENT","PRESENT"],"event_timestamps":[@E,@E,@E]},
        {"values":[true,false,null],"statuses":["PRESENT","PRESENT","NOT_FOUND"],"event_timestamps":[@T,@T,@E]},
        {"values":[-7,2147483647,null],"statuses":["PRESENT","PRESENT","NOT_FOUND"],"event_timestamps":[@T,@T,@E]},
        {"values":[9007199254740993,-9223372036854775808,null],"statuses":["PRESENT","OUTSIDE_MAX_AGE","NOT_FOUND"],"event_timestamps":[@T,@T,@E]},
        {"values":[4.9,"NaN",null],"statuses":["PRESENT","PRESENT","NOT_FOUND"],"event_timestamps":[@T,@T,@E]},
        {"values":[-0.1,"-Infinity",null],"statuses":["PRESENT","PRESENT","NOT_FOUND"],"event_timestamps":[@T,@T,@E]},
        {"values":["héllo \\"x\\"",null,null],"statuses":["PRESENT","NULL_VALUE","NOT_FOUND"],"event_timestamps":[@T,@T,@E]},
        {"values":["AAEC/w==","",null],"statuses":["PRESENT","PRESENT","NOT_FOUND"],"event_timestamps":[@T,@T,@E]},
        {"values":["2024-05-01T12:00:00.000001Z","1969-12-31T23:59:59.999Z",null],"statuses":["PRESENT","PRESENT","NOT_FOUND"],"event_timestamps":[@T,@T,@E]},
        {"values":[[1.5,3.4028235e+38,"Infinity"],[],null],"statuses":["PRESENT","PRESENT","NOT_FOUND"],"event_timestamps":[@T,@T,@E]},
        {"values":[["2024-05-01T12:00:00.000Z"],null,null],"statuses":["PRESENT","NULL_VALUE","NOT_FOUND"],"event_timestamps":[@T,@T,@E]},
        {"values":[["AA==","/w=="],null,null],"statuses":["PRESENT","NULL_VALUE","NOT_FOUND"],"event_timestamps":[@T,@T,@E]}
       ]}
      """
          .replace("@E", EPOCH)
          .replace("@T", T1);

  private FakeServer server;

  @BeforeEach
  void start() throws Exception {
    server = new FakeServer();
  }

  @AfterEach
  void stop() {
    server.close();
  }

  private FeaturelogClient.Builder client() {
    return FeaturelogClient.builder()
        .url(server.url())
        .apiKey(KEY)
        .timeout(Duration.ofSeconds(2))
        .retries(2, Duration.ofMillis(1));
  }

  private static OnlineFeaturesRequest allTypes(Object... driverIds) {
    return OnlineFeaturesRequest.features(List.of("all_types:*")).entities(Map.of("driver_id", Arrays.asList(driverIds)));
  }

  private static String error(int status, String code, boolean retriable) {
    return "{\"statusCode\":" + status + ",\"code\":\"" + code + "\",\"message\":\"" + code.toLowerCase()
        + " happened\",\"retriable\":" + retriable + "}";
  }

  private static final Map<String, String> V1 = Map.of(FeaturelogClient.REGISTRY_VERSION_HEADER, "1");

  @Test
  void decodesEveryValueTypeByTheRegistrysDefinitions() {
    server.on(DEFINITIONS, json(200, DEFINITIONS_V1)).on(ONLINE, json(200, V1, ALL_TYPES_ANSWER));
    OnlineFeaturesResponse answer =
        client().registryUrl(server.url()).build().getOnlineFeatures(allTypes(1001L, 9007199254740993L, 1003L));

    assertEquals(3, answer.rowCount());
    assertEquals(1, answer.registryVersion());
    // Join keys: int64 from the entity's definition, also when echoed as a string past 2^53.
    assertEquals(List.of(1001L, 9007199254740993L, 1003L), answer.values("driver_id"));
    assertEquals(Boolean.TRUE, answer.value(0, "f_bool"));
    assertEquals(Boolean.FALSE, answer.value(1, "all_types:f_bool"));
    assertEquals(Integer.valueOf(-7), answer.value(0, "f_int32"));
    assertEquals(Integer.valueOf(Integer.MAX_VALUE), answer.value(1, "f_int32"));
    assertEquals(Long.valueOf(9007199254740993L), answer.value(0, "f_int64"));
    assertEquals(Long.valueOf(Long.MIN_VALUE), answer.value(1, "f_int64"));
    // float32 text reads back as the float32 itself (not the double 4.9).
    assertEquals(Float.valueOf(4.9f), answer.value(0, "f_float32"));
    assertTrue(Float.isNaN((Float) answer.value(1, "f_float32")));
    assertEquals(Double.valueOf(-0.1), answer.value(0, "f_float64"));
    assertEquals(Double.valueOf(Double.NEGATIVE_INFINITY), answer.value(1, "f_float64"));
    assertEquals("héllo \"x\"", answer.value(0, "f_string"));
    assertNull(answer.value(1, "f_string"));
    assertArrayEquals(new byte[] {0, 1, 2, (byte) 0xff}, (byte[]) answer.value(0, "f_bytes"));
    assertArrayEquals(new byte[0], (byte[]) answer.value(1, "f_bytes"));
    assertEquals(Instant.parse("2024-05-01T12:00:00Z").plusNanos(1_000), answer.value(0, "f_ts"));
    assertEquals(Instant.ofEpochMilli(-1), answer.value(1, "f_ts"));
    assertEquals(List.of(1.5f, Float.MAX_VALUE, Float.POSITIVE_INFINITY), answer.value(0, "f_list_f32"));
    assertEquals(List.of(), answer.value(1, "f_list_f32"));
    assertEquals(List.of(Instant.parse("2024-05-01T12:00:00Z")), answer.value(0, "f_list_ts"));
    List<?> bytesList = answer.getList(0, "f_list_bytes");
    assertArrayEquals(new byte[] {0}, (byte[]) bytesList.get(0));
    assertArrayEquals(new byte[] {(byte) 0xff}, (byte[]) bytesList.get(1));
    // The unknown entity: every feature null and NOT_FOUND at the epoch.
    for (String name : answer.featureNames().subList(1, answer.featureNames().size())) {
      assertNull(answer.value(2, name), name);
      assertEquals(FieldStatus.NOT_FOUND, answer.status(2, name), name);
      assertEquals(Instant.EPOCH, answer.eventTimestamp(2, name), name);
    }
    assertEquals(FieldStatus.PRESENT, answer.status(0, "driver_id"));
    assertEquals(FieldStatus.OUTSIDE_MAX_AGE, answer.status(1, "all_types:f_int64"));
    assertEquals(FieldStatus.NULL_VALUE, answer.status(1, "f_string"));
    assertEquals(Instant.parse("2026-12-02T03:06:03Z"), answer.eventTimestamp(0, "f_bool"));
    assertEquals(ValueType.parse("list<float32>"), answer.type("f_list_f32").orElseThrow());
    assertEquals(answer.featureNames(), List.copyOf(answer.row(2).keySet()));
    assertEquals(1003L, answer.row(2).get("driver_id"));
    assertEquals(-7, answer.row(0).get("f_int32"));
  }

  @Test
  void withoutARegistryReadsValuesByShapeAndTheTypedGettersConvert() {
    server.on(ONLINE, json(200, V1, ALL_TYPES_ANSWER));
    OnlineFeaturesResponse answer = client().build().getOnlineFeatures(allTypes(1001L, 9007199254740993L, 1003L));

    assertTrue(answer.type("f_bytes").isEmpty());
    assertEquals(Long.valueOf(-7), answer.value(0, "f_int32"));
    assertEquals(Integer.valueOf(-7), answer.getInteger(0, "f_int32"));
    assertEquals("AAEC/w==", answer.value(0, "f_bytes"));
    assertArrayEquals(new byte[] {0, 1, 2, (byte) 0xff}, answer.getBytes(0, "f_bytes"));
    assertEquals(Instant.parse("2024-05-01T12:00:00.000001Z"), answer.getInstant(0, "f_ts"));
    assertEquals(Float.valueOf(4.9f), answer.getFloat(0, "f_float32"));
    assertTrue(Float.isNaN(answer.getFloat(1, "f_float32")));
    assertEquals(Double.valueOf(Double.NEGATIVE_INFINITY), answer.getDouble(1, "f_float64"));
    assertEquals("9007199254740993", answer.value(1, "driver_id"));
    assertThrows(IllegalStateException.class, () -> answer.getLong(0, "f_string"));
    assertThrows(IllegalArgumentException.class, () -> answer.value(0, "no_such_column"));
    assertThrows(IndexOutOfBoundsException.class, () -> answer.value(3, "f_bool"));
  }

  @Test
  void sendsFeastsBodyWithTheKeyInTheAuthorizationHeader() throws Exception {
    server.on(ONLINE, json(200, "{\"metadata\":{\"feature_names\":[]},\"results\":[]}"));
    Map<String, List<?>> entities = new LinkedHashMap<>();
    entities.put("driver_id", List.of(1001L, 9007199254740993L, -9007199254740993L, 7));
    entities.put("raw", Arrays.asList(new byte[] {0, (byte) 0xff}, "text", true, null));
    client().build().getOnlineFeatures(OnlineFeaturesRequest.featureService("ranking"), entities, true);

    FakeServer.Seen seen = server.seen(ONLINE).get(0);
    assertEquals("POST", seen.method);
    assertEquals("Bearer " + KEY, seen.header("Authorization"));
    assertTrue(seen.header("Content-Type").startsWith("application/json"));
    JsonNode body = FeaturelogClient.JSON.readTree(seen.body);
    assertEquals(
        FeaturelogClient.JSON.readTree(
            "{\"feature_service\":\"ranking\",\"entities\":{\"driver_id\":[1001,\"9007199254740993\",\"-9007199254740993\",7],"
                + "\"raw\":[\"AP8=\",\"text\",true,null]},\"full_feature_names\":true}"),
        body);
    assertThrows(
        IllegalArgumentException.class,
        () -> client().build().getOnlineFeatures(allTypes(1.5)),
        "a Double is no join key value");
  }

  @Test
  void aServiceWithFullFeatureNamesIsTypedThroughTheServicesViews() {
    server
        .on(DEFINITIONS, json(200, DEFINITIONS_V1))
        .on(
            ONLINE,
            json(
                200,
                V1,
                """
                {"metadata":{"feature_names":["driver_id","stats__conv_rate","stats__trips"]},"results":[
                  {"values":[1001],"statuses":["PRESENT"],"event_timestamps":["1970-01-01T00:00:00Z"]},
                  {"values":[1],"statuses":["OUTSIDE_MAX_AGE"],"event_timestamps":["2026-12-02T00:06:00.000Z"]},
                  {"values":[12],"statuses":["OUTSIDE_MAX_AGE"],"event_timestamps":["2026-12-02T00:06:00.000Z"]}]}
                """));
    OnlineFeaturesResponse answer =
        client()
            .registryUrl(server.url())
            .build()
            .getOnlineFeatures(
                OnlineFeaturesRequest.featureService("ranking")
                    .entities(Map.of("driver_id", List.of(1001L)))
                    .fullFeatureNames(true));
    // float64 from the view, though the JSON number 1 has no fraction.
    assertEquals(Double.valueOf(1.0), answer.value(0, "stats:conv_rate"));
    assertEquals(Long.valueOf(12), answer.value(0, "stats__trips"));
    assertEquals(FieldStatus.OUTSIDE_MAX_AGE, answer.status(0, "stats:trips"));
    assertEquals(Instant.parse("2026-12-02T00:06:00Z"), answer.eventTimestamp(0, "stats:trips"));
  }

  @Test
  void readsTheDefinitionsOnceAndAgainOnlyWhenTheServerAnswersAtANewerRegistryVersion() {
    String v2 = DEFINITIONS_V1.replace("\"version\":1,\"objects\"", "\"version\":2,\"objects\"")
        .replace("{\"name\":\"trips\",\"type\":\"int64\"}", "{\"name\":\"trips\",\"type\":\"float32\"}");
    String answerBody =
        """
        {"metadata":{"feature_names":["driver_id","trips"]},"results":[
          {"values":[1001],"statuses":["PRESENT"],"event_timestamps":["1970-01-01T00:00:00Z"]},
          {"values":[12],"statuses":["PRESENT"],"event_timestamps":["2026-12-02T00:06:00.000Z"]}]}
        """;
    server
        .on(DEFINITIONS, json(200, DEFINITIONS_V1), json(200, v2))
        .on(ONLINE, json(200, V1, answerBody), json(200, V1, answerBody), json(200, Map.of(FeaturelogClient.REGISTRY_VERSION_HEADER, "2"), answerBody));
    FeaturelogClient client = client().registryUrl(server.url()).build();
    OnlineFeaturesRequest request =
        OnlineFeaturesRequest.features(List.of("stats:trips")).entities(Map.of("driver_id", List.of(1001L)));

    assertEquals(Long.valueOf(12), client.getOnlineFeatures(request).value(0, "trips"));
    assertEquals(Long.valueOf(12), client.getOnlineFeatures(request).value(0, "trips"));
    assertEquals(1, server.seen(DEFINITIONS).size(), "the definitions are cached");
    assertEquals("Bearer " + KEY, server.seen(DEFINITIONS).get(0).header("Authorization"));

    assertEquals(Float.valueOf(12f), client.getOnlineFeatures(request).value(0, "trips"));
    assertEquals(2, server.seen(DEFINITIONS).size());
    assertEquals("minVersion=2", server.seen(DEFINITIONS).get(1).query);
  }

  @Test
  void aRegistryThatFailsToRefreshLeavesTheKnownTypesInUseForAWhile() {
    String answerBody =
        """
        {"metadata":{"feature_names":["driver_id","trips"]},"results":[
          {"values":[1001],"statuses":["PRESENT"],"event_timestamps":["1970-01-01T00:00:00Z"]},
          {"values":[12],"statuses":["PRESENT"],"event_timestamps":["2026-12-02T00:06:00.000Z"]}]}
        """;
    server
        .on(DEFINITIONS, json(200, DEFINITIONS_V1), json(503, error(503, "REGISTRY_VERSION_NOT_REACHED", true)))
        .on(ONLINE, json(200, V1, answerBody), json(200, Map.of(FeaturelogClient.REGISTRY_VERSION_HEADER, "2"), answerBody));
    FeaturelogClient client = client().registryUrl(server.url()).build();
    OnlineFeaturesRequest request =
        OnlineFeaturesRequest.features(List.of("stats:trips")).entities(Map.of("driver_id", List.of(1001L)));

    assertEquals(Long.valueOf(12), client.getOnlineFeatures(request).value(0, "trips"));
    assertEquals(Long.valueOf(12), client.getOnlineFeatures(request).value(0, "trips"), "typed by version 1");
    assertEquals(1 + 3, server.seen(DEFINITIONS).size(), "the first read, then a refresh and its 2 retries");
    assertEquals(Long.valueOf(12), client.getOnlineFeatures(request).value(0, "trips"));
    assertEquals(1 + 3, server.seen(DEFINITIONS).size(), "no new refresh within " + FeaturelogClient.REFRESH_PAUSE);
  }

  @Test
  void withNoTypesKnownARegistryFailureIsTheCallersError() {
    server.on(DEFINITIONS, json(401, error(401, "UNAUTHENTICATED", false))).on(ONLINE, json(200, V1, ALL_TYPES_ANSWER));
    FeaturelogException e =
        assertThrows(FeaturelogException.class, () -> client().registryUrl(server.url()).build().getOnlineFeatures(allTypes(1L)));
    assertEquals("UNAUTHENTICATED", e.code());
    assertEquals(401, e.statusCode());
  }

  @Test
  void retriesA503ThenSucceeds() {
    server.on(
        ONLINE,
        json(503, error(503, "ONLINE_STORE_UNAVAILABLE", true)),
        json(200, V1, ALL_TYPES_ANSWER));
    OnlineFeaturesResponse answer = client().build().getOnlineFeatures(allTypes(1001L, 1002L, 1003L));
    assertEquals(3, answer.rowCount());
    assertEquals(2, server.seen(ONLINE).size());
  }

  @Test
  void givesUpAfterItsRetriesWithTheServersError() {
    server.on(ONLINE, json(503, error(503, "ONLINE_STORE_UNAVAILABLE", true)));
    FeaturelogException e =
        assertThrows(FeaturelogException.class, () -> client().retries(3, Duration.ofMillis(1)).build().getOnlineFeatures(allTypes(1L)));
    assertEquals("ONLINE_STORE_UNAVAILABLE", e.code());
    assertEquals(503, e.statusCode());
    assertTrue(e.retriable());
    assertEquals("online_store_unavailable happened", e.getMessage());
    assertEquals(4, server.seen(ONLINE).size(), "one attempt and 3 retries");
  }

  @Test
  void neverRetriesA4xxEvenIfMarkedRetriable() {
    server.on(ONLINE, json(400, error(400, "INVALID_REQUEST", false)));
    FeaturelogException e = assertThrows(FeaturelogException.class, () -> client().build().getOnlineFeatures(allTypes(1L)));
    assertEquals("INVALID_REQUEST", e.code());
    assertEquals(400, e.statusCode());
    assertFalse(e.retriable());
    assertEquals(1, server.seen(ONLINE).size());

    server.on("/other" + ONLINE, json(429, error(429, "TOO_MANY_REQUESTS", true)));
    FeaturelogException limited =
        assertThrows(
            FeaturelogException.class,
            () -> FeaturelogClient.builder().url(server.url() + "/other").retries(3, Duration.ofMillis(1)).build()
                .getOnlineFeatures(allTypes(1L)));
    assertEquals(429, limited.statusCode());
    assertEquals(1, server.seen("/other" + ONLINE).size());
  }

  @Test
  void a401IsUnauthenticatedAndNotRetried() {
    server.on(ONLINE, json(401, "{\"statusCode\":401,\"code\":\"UNAUTHENTICATED\",\"message\":\"the API key is not valid\",\"retriable\":false}"));
    FeaturelogException e = assertThrows(FeaturelogException.class, () -> client().build().getOnlineFeatures(allTypes(1L)));
    assertEquals("UNAUTHENTICATED", e.code());
    assertEquals(401, e.statusCode());
    assertFalse(e.retriable());
    assertEquals("the API key is not valid", e.getMessage());
    assertEquals(1, server.seen(ONLINE).size());
  }

  @Test
  void aTimeoutIsRetriableAndRetried() {
    server.on(ONLINE, server.hang());
    FeaturelogClient client = client().timeout(Duration.ofMillis(300)).retries(1, Duration.ofMillis(1)).build();
    FeaturelogException e = assertThrows(FeaturelogException.class, () -> client.getOnlineFeatures(allTypes(1L)));
    assertEquals(FeaturelogException.TIMEOUT, e.code());
    assertEquals(FeaturelogException.NO_STATUS, e.statusCode());
    assertTrue(e.retriable());
    assertTrue(e.getMessage().contains("did not answer within PT0.3S"), e.getMessage());
    assertEquals(2, server.seen(ONLINE).size(), "the timed-out attempt was retried once");
  }

  @Test
  void aRefusedConnectionIsRetriable() throws Exception {
    String url;
    try (FakeServer gone = new FakeServer()) {
      url = gone.url();
    }
    FeaturelogException e =
        assertThrows(
            FeaturelogException.class,
            () -> FeaturelogClient.builder().url(url).apiKey(KEY).retries(1, Duration.ofMillis(1)).build().getOnlineFeatures(allTypes(1L)));
    assertEquals(FeaturelogException.CONNECTION_FAILED, e.code());
    assertTrue(e.retriable());
    assertTrue(e.getMessage().contains(url), e.getMessage());
  }

  @Test
  void aProxysHtmlErrorIsHttpStatusAndA502IsRetried() {
    server.on(ONLINE, FakeServer.text(502, "<html>Bad Gateway</html>"), json(200, V1, ALL_TYPES_ANSWER));
    assertEquals(3, client().build().getOnlineFeatures(allTypes(1L, 2L, 3L)).rowCount());
    assertEquals(2, server.seen(ONLINE).size());

    server.on(ONLINE, FakeServer.text(500, "<html>oops</html>"));
    FeaturelogException e = assertThrows(FeaturelogException.class, () -> client().build().getOnlineFeatures(allTypes(1L)));
    assertEquals("HTTP_500", e.code());
    assertFalse(e.retriable());
    assertTrue(e.getMessage().contains("HTTP 500: <html>oops</html>"), e.getMessage());
  }

  @Test
  void theKeyNeverLeaksIntoAnExceptionOrToString() {
    // A misbehaving proxy echoing the request's Authorization header back, in JSON and in text.
    server.on(ONLINE, json(403, "{\"code\":\"FORBIDDEN\",\"message\":\"header was Bearer " + KEY + "\"}"));
    FeaturelogClient client = client().build();
    FeaturelogException json = assertThrows(FeaturelogException.class, () -> client.getOnlineFeatures(allTypes(1L)));
    assertEquals("FORBIDDEN", json.code());
    assertNoKey(json);
    server.on(ONLINE, FakeServer.text(503, "Authorization: Bearer " + KEY));
    FeaturelogException text = assertThrows(FeaturelogException.class, () -> client.getOnlineFeatures(allTypes(1L)));
    assertEquals("HTTP_503", text.code());
    assertTrue(text.getMessage().contains("Bearer ***"), text.getMessage());
    assertNoKey(text);
    server.on(ONLINE, server.hang());
    FeaturelogException timeout =
        assertThrows(FeaturelogException.class, () -> client().timeout(Duration.ofMillis(100)).retries(0, Duration.ZERO).build().getOnlineFeatures(allTypes(1L)));
    assertNoKey(timeout);
    assertFalse(client.toString().contains(KEY));
    IllegalArgumentException badKey =
        assertThrows(IllegalArgumentException.class, () -> FeaturelogClient.builder().url(server.url()).apiKey(KEY + "\n").build());
    assertFalse(badKey.getMessage().contains(KEY));
  }

  private static void assertNoKey(Throwable e) {
    StringWriter trace = new StringWriter();
    e.printStackTrace(new PrintWriter(trace));
    assertFalse(trace.toString().contains(KEY), trace.toString());
    assertFalse(e.toString().contains(KEY));
  }

  @Test
  void anAnswerNotInTheDocumentedShapeIsInvalidResponse() {
    server.on(ONLINE, json(200, "{\"metadata\":{\"feature_names\":[\"a\"]},\"results\":[{\"values\":[1],\"statuses\":[\"MAYBE\"],\"event_timestamps\":[null]}]}"));
    FeaturelogException e = assertThrows(FeaturelogException.class, () -> client().build().getOnlineFeatures(allTypes(1L)));
    assertEquals(FeaturelogException.INVALID_RESPONSE, e.code());
    assertTrue(e.getMessage().contains("column \"a\" row 0"), e.getMessage());
    assertFalse(e.retriable());
    assertEquals(1, server.seen(ONLINE).size());
  }

  @Test
  void theAsyncVariantAnswersAndFailsWithTheSameException() throws Exception {
    server.on(ONLINE, json(200, V1, ALL_TYPES_ANSWER));
    FeaturelogClient client = client().build();
    assertEquals(3, client.getOnlineFeaturesAsync(allTypes(1L, 2L, 3L)).get(5, TimeUnit.SECONDS).rowCount());

    server.on(ONLINE, json(404, error(404, "UNKNOWN_FEATURE", false)));
    ExecutionException e =
        assertThrows(ExecutionException.class, () -> client.getOnlineFeaturesAsync(allTypes(1L)).get(5, TimeUnit.SECONDS));
    FeaturelogException cause = assertInstanceOf(FeaturelogException.class, e.getCause());
    assertEquals("UNKNOWN_FEATURE", cause.code());
    assertEquals(404, cause.statusCode());
    assertEquals(2, server.seen(ONLINE).size(), "one answer, then a 404 not retried");
  }

  @Test
  void theAsyncVariantRetriesA503AndATimeoutWithoutBlocking() throws Exception {
    server.on(ONLINE, json(503, error(503, "ONLINE_STORE_UNAVAILABLE", true)), json(200, V1, ALL_TYPES_ANSWER));
    FeaturelogClient client = client().registryUrl(server.url()).build();
    server.on(DEFINITIONS, json(200, DEFINITIONS_V1));
    OnlineFeaturesResponse answer = client.getOnlineFeaturesAsync(allTypes(1L, 2L, 3L)).get(5, TimeUnit.SECONDS);
    assertEquals(Float.valueOf(4.9f), answer.value(0, "f_float32"), "typed on the executor by the registry's types");
    assertEquals(2, server.seen(ONLINE).size());

    server.on(ONLINE, server.hang());
    ExecutionException e =
        assertThrows(
            ExecutionException.class,
            () -> client().timeout(Duration.ofMillis(200)).retries(2, Duration.ofMillis(1)).build()
                .getOnlineFeaturesAsync(allTypes(1L)).get(10, TimeUnit.SECONDS));
    FeaturelogException timeout = assertInstanceOf(FeaturelogException.class, e.getCause());
    assertEquals(FeaturelogException.TIMEOUT, timeout.code());
    assertTrue(timeout.retriable());
    assertNoKey(timeout);
    assertEquals(2 + 3, server.seen(ONLINE).size(), "the timed-out attempt and its 2 retries");
  }

  @Test
  void theBuilderAndTheRequestRefuseWhatCannotWork() {
    assertThrows(IllegalArgumentException.class, () -> FeaturelogClient.builder().build());
    assertThrows(IllegalArgumentException.class, () -> FeaturelogClient.builder().url("localhost:6574").build());
    assertThrows(IllegalArgumentException.class, () -> client().timeout(Duration.ZERO).build());
    assertThrows(IllegalArgumentException.class, () -> client().retries(-1, Duration.ZERO).build());
    assertThrows(IllegalArgumentException.class, () -> OnlineFeaturesRequest.features(List.of()));
    assertThrows(IllegalArgumentException.class, () -> OnlineFeaturesRequest.features(List.of("no_view")));
    assertThrows(IllegalArgumentException.class, () -> OnlineFeaturesRequest.featureService(""));
    Map<String, List<?>> uneven = new LinkedHashMap<>();
    uneven.put("a", List.of(1L));
    uneven.put("b", List.of(1L, 2L));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> OnlineFeaturesRequest.featureService("s").entities(uneven));
    assertTrue(e.getMessage().contains("\"a\" has 1 values, \"b\" has 2"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> client().build().getOnlineFeatures(OnlineFeaturesRequest.featureService("s")));
  }

  @Test
  void backoffDoublesWithJitterAndIsCapped() {
    FeaturelogClient client = client().retries(10, Duration.ofMillis(100)).build();
    for (int retry = 1; retry <= 10; retry++) {
      long full = 100L << Math.min(retry - 1, 6);
      long delay = client.delayBefore(retry).toMillis();
      assertTrue(delay >= full / 2 && delay <= full, "retry " + retry + " waited " + delay + " ms");
    }
  }
}
