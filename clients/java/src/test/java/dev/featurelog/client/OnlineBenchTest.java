package dev.featurelog.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
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
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;

/**
 * Online reads through the client beside raw HTTP from Java (the JDK's HttpClient and a Jackson
 * tree), at batch 1 and 100, one request at a time: latency percentiles per request. Not a test of
 * behaviour: it runs only when FEATURELOG_JAVA_BENCH=1 and FEATURELOG_SERVING_URL are set, prints a
 * table and, with FEATURELOG_BENCH_OUT, writes the figures as JSON there.
 *
 * <pre>FEATURELOG_JAVA_BENCH=1 mvn -B -q test -Dtest=OnlineBenchTest</pre>
 */
class OnlineBenchTest {
  private static final String SERVING = System.getenv("FEATURELOG_SERVING_URL");
  private static final String REGISTRY = System.getenv("FEATURELOG_REGISTRY_URL");
  private static final String KEY = System.getenv("FEATURELOG_API_KEY");
  private static final int REQUESTS = Integer.parseInt(System.getenv().getOrDefault("FEATURELOG_BENCH_REQUESTS", "500"));

  @Test
  void clientBesideRawHttp() throws Exception {
    assumeTrue("1".equals(System.getenv("FEATURELOG_JAVA_BENCH")), "a benchmark: set FEATURELOG_JAVA_BENCH=1 to run it");
    assumeTrue(SERVING != null && !SERVING.isEmpty(), "FEATURELOG_SERVING_URL is not set");
    String feature = System.getenv().getOrDefault("FEATURELOG_BENCH_FEATURES", "driver_hourly_stats:*");
    String joinKey = System.getenv().getOrDefault("FEATURELOG_BENCH_JOIN_KEY", "driver_id");
    FeaturelogClient.Builder builder =
        FeaturelogClient.builder().url(SERVING).apiKey(KEY).timeout(Duration.ofSeconds(10)).retries(0, Duration.ZERO);
    if (REGISTRY != null && !REGISTRY.isEmpty()) builder.registryUrl(REGISTRY);
    FeaturelogClient client = builder.build();
    HttpClient raw = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    StringBuilder json = new StringBuilder("{\n  \"requests\": " + REQUESTS + ",\n  \"results\": [");
    System.out.printf(Locale.ROOT, "%-8s %-6s %10s %10s %10s %12s%n", "via", "batch", "p50 ms", "p99 ms", "mean ms", "rows/s");
    boolean first = true;
    for (int batch : new int[] {1, 100}) {
      List<Long> ids = new ArrayList<>();
      for (int i = 0; i < batch; i++) ids.add(1001L + (i % 5));
      OnlineFeaturesRequest request =
          OnlineFeaturesRequest.features(List.of(feature)).entities(Map.of(joinKey, ids));
      byte[] body = FeaturelogClient.requestBody(request);
      HttpRequest.Builder rawRequest =
          HttpRequest.newBuilder(URI.create(SERVING + "/get-online-features"))
              .header("Content-Type", "application/json")
              .POST(HttpRequest.BodyPublishers.ofByteArray(body));
      if (KEY != null) rawRequest.header("Authorization", "Bearer " + KEY);
      HttpRequest built = rawRequest.build();
      Callable<Integer> viaRaw =
          () -> {
            HttpResponse<byte[]> answer = raw.send(built, HttpResponse.BodyHandlers.ofByteArray());
            assertEquals(200, answer.statusCode(), () -> new String(answer.body(), StandardCharsets.UTF_8));
            JsonNode tree = FeaturelogClient.JSON.readTree(answer.body());
            return tree.path("results").get(0).path("values").size();
          };
      Callable<Integer> viaClient = () -> client.getOnlineFeatures(request).rowCount();
      double[][] ms = run(viaRaw, viaClient, batch);
      String[] names = {"raw", "client"};
      for (int v = 0; v < 2; v++) {
        double mean = Arrays.stream(ms[v]).average().orElse(0);
        double p50 = percentile(ms[v], 0.50);
        double p99 = percentile(ms[v], 0.99);
        System.out.printf(
            Locale.ROOT, "%-8s %-6d %10.3f %10.3f %10.3f %12.0f%n", names[v], batch, p50, p99, mean, batch * 1000 / mean);
        json.append(first ? "" : ",")
            .append(String.format(
                Locale.ROOT,
                "%n    {\"via\": \"%s\", \"batch\": %d, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"mean_ms\": %.3f}",
                names[v], batch, p50, p99, mean));
        first = false;
      }
    }
    json.append("\n  ]\n}\n");
    String out = System.getenv("FEATURELOG_BENCH_OUT");
    if (out != null && !out.isEmpty()) Files.writeString(Path.of(out), json);
  }

  /**
   * Latency of REQUESTS calls of each, after as many warm-up calls (JIT, connections, the registry
   * cache); the two alternate, each first in turn, so a drift of the machine's load hits both alike.
   */
  private static double[][] run(Callable<Integer> raw, Callable<Integer> client, int batch) throws Exception {
    for (int i = 0; i < REQUESTS; i++) {
      assertEquals(batch, raw.call());
      assertEquals(batch, client.call());
    }
    double[][] ms = new double[2][REQUESTS];
    for (int i = 0; i < REQUESTS; i++) {
      for (int k = 0; k < 2; k++) {
        int v = (i + k) % 2;
        long start = System.nanoTime();
        int rows = (v == 0 ? raw : client).call();
        ms[v][i] = (System.nanoTime() - start) / 1e6;
        assertEquals(batch, rows);
      }
    }
    return ms;
  }

  private static double percentile(double[] values, double q) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
  }
}
