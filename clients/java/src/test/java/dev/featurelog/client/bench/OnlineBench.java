package dev.featurelog.client.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.featurelog.client.FeaturelogClient;
import dev.featurelog.client.OnlineFeaturesRequest;
import dev.featurelog.client.OnlineFeaturesResponse;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Java part of bench/clients/online_bench.py: POST /get-online-features through {@link
 * FeaturelogClient} beside raw HTTP from Java (the JDK's HttpClient and a Jackson tree), one request
 * in flight, the two interleaved request by request so that both see the same machine at the same
 * moment. It lives with the tests so that it does not ship in the client's jar.
 *
 * <pre>
 * mvn -q -B -f clients/java test-compile exec:exec    # BENCH_CASES_FILE=cases.json, from the repo root
 * </pre>
 *
 * Reads the cases file online_bench.py writes ({servingUrl, registryUrl?, warmup, cases: [{name,
 * batch, requests, body}]}) and FEATURELOG_API_KEY, and prints one JSON line per case and mode, the
 * protocol every language's part follows (see bench/clients/README.md). With registryUrl the client
 * decodes every column into its feature's Java type, as the Python client does with its registry.
 */
public final class OnlineBench {
  private static final ObjectMapper JSON = new ObjectMapper();

  private OnlineBench() {}

  @FunctionalInterface
  private interface Call {
    void run() throws Exception;
  }

  public static void main(String[] args) throws Exception {
    String file = System.getenv("BENCH_CASES_FILE");
    if (file == null || file.isEmpty()) {
      System.err.println("BENCH_CASES_FILE is not set (run bench/clients/online_bench.py)");
      System.exit(2);
    }
    JsonNode spec = JSON.readTree(Files.readString(Path.of(file)));
    String serving = spec.path("servingUrl").asText().replaceAll("/+$", "");
    String registry = spec.path("registryUrl").asText("");
    String key = System.getenv("FEATURELOG_API_KEY");
    int warmup = spec.path("warmup").asInt();

    // No retries: a failed request must fail the bench, not hide in its latency.
    FeaturelogClient.Builder builder =
        FeaturelogClient.builder().url(serving).timeout(Duration.ofSeconds(30)).retries(0, Duration.ZERO);
    if (key != null && !key.isEmpty()) builder.apiKey(key);
    if (!registry.isEmpty()) builder.registryUrl(registry);
    FeaturelogClient client = builder.build();
    // Its own HttpClient, HTTP/1.1 with keep-alive, as the featurelog client's.
    HttpClient raw =
        HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(30)).build();

    for (JsonNode benchCase : spec.path("cases")) {
      String name = benchCase.path("name").asText();
      int batch = benchCase.path("batch").asInt();
      int requests = benchCase.path("requests").asInt();
      JsonNode body = benchCase.path("body");
      OnlineFeaturesRequest request = requestOf(body);
      int columns = body.path("features").size() + body.path("entities").size();

      HttpRequest.Builder rawBuilder =
          HttpRequest.newBuilder(URI.create(serving + "/get-online-features"))
              .timeout(Duration.ofSeconds(30))
              .header("Content-Type", "application/json")
              .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)));
      if (key != null && !key.isEmpty()) rawBuilder.header("Authorization", "Bearer " + key);
      HttpRequest rawRequest = rawBuilder.build();

      Call viaRaw =
          () -> {
            HttpResponse<byte[]> answer = raw.send(rawRequest, HttpResponse.BodyHandlers.ofByteArray());
            if (answer.statusCode() != 200) {
              throw new IllegalStateException(
                  "raw HTTP: " + answer.statusCode() + " " + new String(answer.body(), StandardCharsets.UTF_8));
            }
            JsonNode tree = JSON.readTree(answer.body());
            if (tree.path("results").size() != columns) {
              throw new IllegalStateException(
                  "raw HTTP: " + tree.path("results").size() + " result columns, expected " + columns);
            }
          };
      Call viaClient =
          () -> {
            OnlineFeaturesResponse answer = client.getOnlineFeatures(request);
            if (answer.featureNames().size() != columns || answer.rowCount() != batch) {
              throw new IllegalStateException(
                  "client: " + answer.featureNames().size() + " columns × " + answer.rowCount() + " rows, expected "
                      + columns + " × " + batch);
            }
          };

      for (int i = 0; i < warmup; i++) {
        viaRaw.run();
        viaClient.run();
      }
      double[] rawMs = new double[requests];
      double[] clientMs = new double[requests];
      for (int i = 0; i < requests; i++) {
        long started = System.nanoTime();
        viaRaw.run();
        rawMs[i] = (System.nanoTime() - started) / 1e6;
        started = System.nanoTime();
        viaClient.run();
        clientMs[i] = (System.nanoTime() - started) / 1e6;
      }
      System.out.println(summary("client", name, batch, clientMs));
      System.out.println(summary("raw", name, batch, rawMs));
    }
    System.out.flush();
    // Exit at once: neither HttpClient's threads nor the client's may keep the bench's JVM alive.
    System.exit(0);
  }

  /** The case's body (the get-online-features request as sent) as the client's request. */
  private static OnlineFeaturesRequest requestOf(JsonNode body) {
    List<String> features = new ArrayList<>();
    body.path("features").forEach(feature -> features.add(feature.asText()));
    if (features.isEmpty()) throw new IllegalArgumentException("the bench asks by feature list; the body has none");
    Map<String, List<Object>> entities = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> entry : body.path("entities").properties()) {
      List<Object> values = new ArrayList<>();
      for (JsonNode value : entry.getValue()) {
        // Integral keys as Long (exact), the rest as their text: the client's join key types.
        values.add(value.isIntegralNumber() && value.canConvertToLong() ? (Object) value.longValue() : value.asText());
      }
      entities.put(entry.getKey(), values);
    }
    return OnlineFeaturesRequest.features(features)
        .entities(entities)
        .fullFeatureNames(body.path("full_feature_names").asBoolean(false));
  }

  /**
   * Percentiles of the recorded latencies (nearest rank below, as the Python and TypeScript parts
   * take them) and rps of this mode's own summed time (the two modes are interleaved).
   */
  private static String summary(String mode, String name, int batch, double[] millis) {
    double[] sorted = millis.clone();
    Arrays.sort(sorted);
    double total = Arrays.stream(millis).sum();
    ObjectNode line = JSON.createObjectNode();
    line.put("language", "java");
    line.put("mode", mode);
    line.put("case", name);
    line.put("batch", batch);
    line.put("requests", millis.length);
    line.put("p50_ms", at(sorted, 0.5));
    line.put("p99_ms", at(sorted, 0.99));
    line.put("mean_ms", total / millis.length);
    line.put("rps", millis.length / (total / 1000));
    return line.toString();
  }

  private static double at(double[] sorted, double q) {
    return sorted[Math.min(sorted.length - 1, (int) (q * sorted.length))];
  }
}
