package dev.featurelog.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.math.BigInteger;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * featurelog's online client: {@code POST /get-online-features} of the serving app over the JDK's
 * {@link HttpClient}, with typed values, a per-attempt timeout, retries of retriable failures and an
 * API key. Thread-safe; build one and share it.
 *
 * <pre>{@code
 * FeaturelogClient client = FeaturelogClient.builder()
 *     .url("http://127.0.0.1:6574")            // the serving app
 *     .registryUrl("http://127.0.0.1:6570")    // optional: types from the registry
 *     .apiKey(System.getenv("FEATURELOG_API_KEY"))
 *     .timeout(Duration.ofSeconds(2))
 *     .retries(3, Duration.ofMillis(100))
 *     .build();
 * OnlineFeaturesResponse answer = client.getOnlineFeatures(
 *     OnlineFeaturesRequest.featureService("driver_activity")
 *         .entities(Map.of("driver_id", List.of(1001L, 1002L))));
 * Double convRate = answer.getDouble(0, "driver_hourly_stats:conv_rate");
 * }</pre>
 *
 * <p><b>Types.</b> The JSON answer alone cannot tell a bytes or timestamp value from a string, or a
 * float32 from a float64. With {@link Builder#registryUrl} the client reads the registry's definitions
 * once ({@code GET /definitions}), keeps them, and reads them again only when the serving app answers
 * at a newer registry version ({@code x-featurelog-registry-version}): each column then decodes to its
 * type's Java class (see {@link ValueType}). Without it, values are read by JSON shape (integers
 * {@link Long}, other numbers {@link Double}, text {@link String}) and the typed getters of
 * {@link OnlineFeaturesResponse} convert on demand.
 *
 * <p><b>Failures</b> are {@link FeaturelogException}s. Retried, up to {@code retries} times with
 * exponential backoff (with jitter): answers the server marks {@code retriable} (503 while it starts
 * or its store is unreachable), connection failures and timeouts; never a 4xx.
 */
public final class FeaturelogClient {
  static final ObjectMapper JSON = new ObjectMapper();
  static final String REGISTRY_VERSION_HEADER = "x-featurelog-registry-version";
  private static final long MAX_SAFE_INTEGER = (1L << 53) - 1;
  private static final int MAX_BACKOFF_DOUBLINGS = 6;
  /** After a failed refresh of the registry's types, the ones known are used this long before trying again. */
  static final Duration REFRESH_PAUSE = Duration.ofSeconds(30);

  private final URI onlineFeaturesUri;
  private final URI definitionsUri;
  private final String apiKey;
  private final Duration timeout;
  private final int retries;
  private final Duration backoff;
  private final HttpClient http;
  private final Executor executor;
  private final Object registryLock = new Object();
  private volatile RegistryTypes registryTypes;
  /** System.nanoTime before which no refresh is tried again (guarded by registryLock). */
  private long refreshPausedUntil;

  private FeaturelogClient(Builder builder) {
    this.onlineFeaturesUri = URI.create(trimSlash(builder.url) + "/get-online-features");
    this.definitionsUri = builder.registryUrl == null ? null : URI.create(trimSlash(builder.registryUrl) + "/definitions");
    this.apiKey = builder.apiKey;
    this.timeout = builder.timeout;
    this.retries = builder.retries;
    this.backoff = builder.backoff;
    this.http =
        builder.httpClient != null
            ? builder.httpClient
            : HttpClient.newBuilder().connectTimeout(builder.timeout).version(HttpClient.Version.HTTP_1_1).build();
    this.executor = builder.executor != null ? builder.executor : DefaultExecutor.INSTANCE;
  }

  public static Builder builder() {
    return new Builder();
  }

  /** Online features for the request's entity rows; retries retriable failures as configured. */
  public OnlineFeaturesResponse getOnlineFeatures(OnlineFeaturesRequest request) {
    HttpRequest httpRequest = onlineRequest(request);
    return toResponse(withRetries(() -> send(httpRequest, "serving")), request);
  }

  private HttpRequest onlineRequest(OnlineFeaturesRequest request) {
    Objects.requireNonNull(request, "request");
    if (request.entities().isEmpty()) {
      throw new IllegalArgumentException("the request has no entities: call .entities(Map.of(joinKey, values))");
    }
    return authorized(HttpRequest.newBuilder(onlineFeaturesUri))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .POST(HttpRequest.BodyPublishers.ofByteArray(requestBody(request)))
        .build();
  }

  private OnlineFeaturesResponse toResponse(HttpResponse<byte[]> answer, OnlineFeaturesRequest request) {
    long version = answer.headers().firstValue(REGISTRY_VERSION_HEADER).map(FeaturelogClient::parseVersion).orElse(-1L);
    JsonNode json = readJson(answer, "serving");
    Map<String, ValueType> types = definitionsUri == null ? Map.of() : typesAt(version).columnTypes(request);
    try {
      return OnlineFeaturesResponse.fromJson(json, types, request.fullFeatureNames(), version);
    } catch (IllegalArgumentException e) {
      throw new FeaturelogException(
          FeaturelogException.INVALID_RESPONSE,
          "the serving app's answer is not in the documented shape: " + mask(e.getMessage()),
          answer.statusCode(),
          false,
          null);
    }
  }

  /** The same request with features or a service, entity rows and full feature names given apart. */
  public OnlineFeaturesResponse getOnlineFeatures(
      OnlineFeaturesRequest selection, Map<String, ? extends List<?>> entities, boolean fullFeatureNames) {
    return getOnlineFeatures(selection.entities(entities).fullFeatureNames(fullFeatureNames));
  }

  /**
   * {@link #getOnlineFeatures(OnlineFeaturesRequest)} without blocking a thread on the network: the
   * HttpClient's own asynchronous send, retries scheduled after their backoff, the answer decoded on
   * the client's executor (its own daemon threads unless {@link Builder#executor} gave one; reading
   * the registry's definitions, when due, happens there too). The future fails with the same
   * {@link FeaturelogException}; a request the client refuses (IllegalArgumentException) is thrown
   * at once.
   */
  public CompletableFuture<OnlineFeaturesResponse> getOnlineFeaturesAsync(OnlineFeaturesRequest request) {
    HttpRequest httpRequest = onlineRequest(request);
    return sendAsync(httpRequest, "serving", 0).thenApplyAsync(answer -> toResponse(answer, request), executor);
  }

  /** One attempt and, after a retriable failure, the next ones, each after its backoff. */
  private CompletableFuture<HttpResponse<byte[]>> sendAsync(HttpRequest request, String app, int done) {
    return http.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray())
        .handle(
            (answer, error) -> {
              FeaturelogException failure;
              if (error != null) {
                Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
                failure = cause instanceof Exception ? failureOf((Exception) cause, request, app) : null;
                if (failure == null) return CompletableFuture.<HttpResponse<byte[]>>failedFuture(cause);
              } else if (answer.statusCode() >= 200 && answer.statusCode() < 300) {
                return CompletableFuture.completedFuture(answer);
              } else {
                failure = errorOf(answer, app);
              }
              if (done >= retries || !shouldRetry(failure)) {
                return CompletableFuture.<HttpResponse<byte[]>>failedFuture(failure);
              }
              Executor later = CompletableFuture.delayedExecutor(delayBefore(done + 1).toNanos(), TimeUnit.NANOSECONDS, executor);
              return CompletableFuture.supplyAsync(() -> done + 1, later).thenCompose(next -> sendAsync(request, app, next));
            })
        .thenCompose(next -> next);
  }

  // --- types from the registry ---------------------------------------------------------------

  /** The registry's types at `version` or later: the cached ones unless the server has moved past them. */
  private RegistryTypes typesAt(long version) {
    RegistryTypes cached = registryTypes;
    if (cached != null && cached.version >= version) return cached;
    synchronized (registryLock) {
      cached = registryTypes;
      if (cached != null && (cached.version >= version || System.nanoTime() - refreshPausedUntil < 0)) return cached;
      try {
        URI uri = version >= 0 ? URI.create(definitionsUri + "?minVersion=" + version) : definitionsUri;
        HttpResponse<byte[]> answer =
            withRetries(() -> send(authorized(HttpRequest.newBuilder(uri)).GET().build(), "registry"));
        RegistryTypes fresh = RegistryTypes.fromDefinitions(readJson(answer, "registry"));
        registryTypes = fresh;
        return fresh;
      } catch (FeaturelogException | IllegalArgumentException e) {
        // Keep answering with the types already known (a view's type changes only with a new version
        // of it), and not pay the registry's timeouts on every call while it is down; without any
        // types, the answer cannot be typed as promised, so the failure is the caller's.
        if (cached != null) {
          refreshPausedUntil = System.nanoTime() + REFRESH_PAUSE.toNanos();
          return cached;
        }
        if (e instanceof FeaturelogException) throw (FeaturelogException) e;
        throw new FeaturelogException(
            FeaturelogException.INVALID_RESPONSE, "the registry's /definitions: " + mask(e.getMessage()), 200, false, e);
      }
    }
  }

  // --- HTTP, errors and retries --------------------------------------------------------------

  private interface Attempt {
    HttpResponse<byte[]> run();
  }

  private HttpResponse<byte[]> withRetries(Attempt attempt) {
    for (int done = 0; ; done++) {
      try {
        return attempt.run();
      } catch (FeaturelogException e) {
        if (done >= retries || !shouldRetry(e)) throw e;
        sleep(delayBefore(done + 1));
      }
    }
  }

  /** Retriable failures only, and never a 4xx whatever its body says: the same request would fail again. */
  static boolean shouldRetry(FeaturelogException e) {
    return e.retriable() && !(e.statusCode() >= 400 && e.statusCode() < 500);
  }

  /** backoff × 2^(retry-1), at most 2^6 × backoff, with half of it random so clients do not retry in step. */
  Duration delayBefore(int retry) {
    long base = backoff.toNanos() << Math.min(retry - 1, MAX_BACKOFF_DOUBLINGS);
    if (base <= 0) return Duration.ZERO;
    long half = base / 2;
    return Duration.ofNanos(half + ThreadLocalRandom.current().nextLong(half + 1));
  }

  private static void sleep(Duration delay) {
    try {
      Thread.sleep(delay.toMillis(), (int) (delay.toNanos() % 1_000_000));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new FeaturelogException(
          FeaturelogException.INTERRUPTED, "interrupted while waiting to retry", FeaturelogException.NO_STATUS, false, null);
    }
  }

  private HttpRequest.Builder authorized(HttpRequest.Builder builder) {
    builder.timeout(timeout);
    if (apiKey != null) builder.header("Authorization", "Bearer " + apiKey);
    return builder;
  }

  /** One attempt: a 2xx answer, or the failure as a FeaturelogException. */
  private HttpResponse<byte[]> send(HttpRequest request, String app) {
    HttpResponse<byte[]> answer;
    try {
      answer = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
    } catch (IOException e) {
      throw failureOf(e, request, app);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw failureOf(e, request, app);
    }
    int status = answer.statusCode();
    if (status >= 200 && status < 300) return answer;
    throw errorOf(answer, app);
  }

  /** A failure to get any answer, as a FeaturelogException; null for what is not one (a bug to pass on). */
  private FeaturelogException failureOf(Exception e, HttpRequest request, String app) {
    if (e instanceof HttpConnectTimeoutException) {
      return noAnswer(FeaturelogException.TIMEOUT, "connecting to the " + app + " app at " + origin(request) + " took longer than " + timeout, e);
    }
    if (e instanceof HttpTimeoutException) {
      return noAnswer(FeaturelogException.TIMEOUT, "the " + app + " app at " + origin(request) + " did not answer within " + timeout, e);
    }
    if (e instanceof ConnectException) {
      return noAnswer(FeaturelogException.CONNECTION_FAILED, "cannot connect to the " + app + " app at " + origin(request) + describe(e), e);
    }
    if (e instanceof IOException) {
      return noAnswer(FeaturelogException.CONNECTION_FAILED, "the connection to the " + app + " app at " + origin(request) + " failed" + describe(e), e);
    }
    if (e instanceof InterruptedException) {
      return new FeaturelogException(
          FeaturelogException.INTERRUPTED, "interrupted while waiting for the " + app + " app", FeaturelogException.NO_STATUS, false, null);
    }
    return null;
  }

  /**
   * The server's JSON error as sent; anything else (a proxy's HTML page) gets {@code HTTP_<status>},
   * retriable for the statuses that mean "not now" (502, 503, 504).
   */
  private FeaturelogException errorOf(HttpResponse<byte[]> answer, String app) {
    int status = answer.statusCode();
    try {
      JsonNode error = JSON.readTree(answer.body());
      if (error != null && error.path("code").isTextual()) {
        boolean retriable = error.path("retriable").isBoolean() ? error.path("retriable").booleanValue() : status >= 500;
        return new FeaturelogException(
            error.path("code").textValue(), mask(error.path("message").asText("")), status, retriable, null);
      }
    } catch (IOException notJson) {
      // Described below from the status and the start of the body.
    }
    String text = new String(answer.body(), java.nio.charset.StandardCharsets.UTF_8).strip();
    if (text.length() > 200) text = text.substring(0, 200) + "…";
    return new FeaturelogException(
        "HTTP_" + status,
        "the " + app + " app answered HTTP " + status + (text.isEmpty() ? "" : ": " + mask(text)),
        status,
        status == 502 || status == 503 || status == 504,
        null);
  }

  private JsonNode readJson(HttpResponse<byte[]> answer, String app) {
    try {
      return JSON.readTree(answer.body());
    } catch (IOException e) {
      throw new FeaturelogException(
          FeaturelogException.INVALID_RESPONSE,
          "the " + app + " app's answer is not JSON" + describe(e),
          answer.statusCode(),
          false,
          null);
    }
  }

  private FeaturelogException noAnswer(String code, String message, Exception cause) {
    // The JDK's exception is kept as the cause only when its text cannot hold the key.
    Throwable kept = containsKey(String.valueOf(cause.getMessage())) ? null : cause;
    return new FeaturelogException(code, mask(message), FeaturelogException.NO_STATUS, true, kept);
  }

  private String describe(Exception e) {
    return e.getMessage() == null || e.getMessage().isEmpty() ? "" : ": " + mask(e.getMessage());
  }

  private static String origin(HttpRequest request) {
    URI uri = request.uri();
    return uri.getScheme() + "://" + uri.getAuthority();
  }

  private boolean containsKey(String text) {
    return apiKey != null && text != null && text.contains(apiKey);
  }

  /** Text the client did not write itself never carries the key out. */
  private String mask(String text) {
    return containsKey(text) ? text.replace(apiKey, "***") : text;
  }

  // --- the request body ----------------------------------------------------------------------

  static byte[] requestBody(OnlineFeaturesRequest request) {
    ObjectNode body = JsonNodeFactory.instance.objectNode();
    if (request.featureService() != null) {
      body.put("feature_service", request.featureService());
    } else {
      ArrayNode features = body.putArray("features");
      request.features().forEach(features::add);
    }
    ObjectNode entities = body.putObject("entities");
    for (Map.Entry<String, List<?>> entry : request.entities().entrySet()) {
      ArrayNode values = entities.putArray(entry.getKey());
      int i = 0;
      for (Object value : entry.getValue()) addKey(values, value, entry.getKey(), i++);
    }
    body.put("full_feature_names", request.fullFeatureNames());
    try {
      return JSON.writeValueAsBytes(body);
    } catch (IOException e) {
      throw new IllegalStateException("cannot write the request as JSON", e);
    }
  }

  /** A join key value in the server's JSON: an int64 past 2^53 as a string (a JSON number may lose digits). */
  private static void addKey(ArrayNode values, Object value, String key, int row) {
    if (value == null) values.addNull();
    else if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
      long n = ((Number) value).longValue();
      if (Math.abs(n) <= MAX_SAFE_INTEGER) values.add(n);
      else values.add(Long.toString(n));
    } else if (value instanceof BigInteger) values.add(value.toString());
    else if (value instanceof String) values.add((String) value);
    else if (value instanceof Boolean) values.add((Boolean) value);
    else if (value instanceof byte[]) values.add(Base64.getEncoder().encodeToString((byte[]) value));
    else {
      throw new IllegalArgumentException(
          "entities \""
              + key
              + "\"["
              + row
              + "] is a "
              + value.getClass().getName()
              + "; a join key value is a Long, Integer, String, byte[] or Boolean");
    }
  }

  private static long parseVersion(String text) {
    try {
      return Long.parseLong(text.trim());
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  private static String trimSlash(String url) {
    return url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
  }

  @Override
  public String toString() {
    // Never the key.
    return "FeaturelogClient{url=" + onlineFeaturesUri + ", timeout=" + timeout + ", retries=" + retries + "}";
  }

  /** Threads for the async variant: daemon, so an idle client never keeps a JVM alive. */
  private static final class DefaultExecutor {
    static final ExecutorService INSTANCE =
        Executors.newCachedThreadPool(
            new java.util.concurrent.ThreadFactory() {
              private final AtomicInteger count = new AtomicInteger();

              @Override
              public Thread newThread(Runnable runnable) {
                Thread thread = new Thread(runnable, "featurelog-client-" + count.incrementAndGet());
                thread.setDaemon(true);
                return thread;
              }
            });
  }

  /** Options of a {@link FeaturelogClient}; only {@link #url} is required. */
  public static final class Builder {
    private String url;
    private String registryUrl;
    private String apiKey;
    private Duration timeout = Duration.ofSeconds(5);
    private int retries = 2;
    private Duration backoff = Duration.ofMillis(100);
    private HttpClient httpClient;
    private Executor executor;

    private Builder() {}

    /** The serving app's base URL, e.g. {@code http://127.0.0.1:6574}. */
    public Builder url(String url) {
      this.url = url;
      return this;
    }

    /**
     * The registry app's base URL (e.g. {@code http://127.0.0.1:6570}): values are then typed by the
     * registry's definitions (read with the same API key, scope {@code read}). Optional.
     */
    public Builder registryUrl(String registryUrl) {
      this.registryUrl = registryUrl;
      return this;
    }

    /** Sent as {@code Authorization: Bearer <key>}; never in a message, a log line or toString. */
    public Builder apiKey(String apiKey) {
      this.apiKey = apiKey;
      return this;
    }

    /** How long one attempt (connecting, and waiting for the whole answer) may take; default 5 s. */
    public Builder timeout(Duration timeout) {
      this.timeout = timeout;
      return this;
    }

    /**
     * Up to {@code retries} more attempts after a retriable failure (default 2), the first after
     * about {@code backoff} (default 100 ms), doubling each time.
     */
    public Builder retries(int retries, Duration backoff) {
      this.retries = retries;
      this.backoff = backoff;
      return this;
    }

    /** An HttpClient of your own (proxy, TLS settings); its connect timeout is then yours to set. */
    public Builder httpClient(HttpClient httpClient) {
      this.httpClient = httpClient;
      return this;
    }

    /** Where {@link FeaturelogClient#getOnlineFeaturesAsync} runs its calls. */
    public Builder executor(Executor executor) {
      this.executor = executor;
      return this;
    }

    public FeaturelogClient build() {
      checkUrl("url", url);
      if (registryUrl != null) checkUrl("registryUrl", registryUrl);
      if (apiKey != null && (apiKey.isEmpty() || apiKey.chars().anyMatch(c -> c < 0x20 || c == 0x7f || c > 0x7e))) {
        // Said without the key itself.
        throw new IllegalArgumentException("apiKey must be non-empty printable ASCII (it goes into an HTTP header)");
      }
      if (timeout == null || timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("timeout must be positive, got " + timeout);
      }
      if (retries < 0) throw new IllegalArgumentException("retries must be 0 or more, got " + retries);
      if (backoff == null || backoff.isNegative()) {
        throw new IllegalArgumentException("backoff must be zero or positive, got " + backoff);
      }
      return new FeaturelogClient(this);
    }

    private static void checkUrl(String name, String value) {
      if (value == null || value.isEmpty()) throw new IllegalArgumentException(name + " is required");
      URI uri;
      try {
        uri = URI.create(value);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(name + " is not a URL: " + value, e);
      }
      if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
        throw new IllegalArgumentException(name + " must be an http(s) URL with a host, got " + value);
      }
    }

    @Override
    public String toString() {
      return "FeaturelogClient.Builder{url=" + url + ", registryUrl=" + registryUrl + "}";
    }
  }
}
