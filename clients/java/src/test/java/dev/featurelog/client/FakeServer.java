package dev.featurelog.client;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A scripted HTTP server on the JDK's own com.sun.net.httpserver: per path, the answers to give in
 * turn (the last one repeats), and every request it saw. Stands in for the serving and registry apps
 * in unit tests only; the live tests talk to the real ones.
 */
final class FakeServer implements AutoCloseable {
  /** One request as the server received it. */
  static final class Seen {
    final String method;
    final String path;
    final String query;
    final Map<String, List<String>> headers;
    final String body;

    Seen(String method, String path, String query, Map<String, List<String>> headers, String body) {
      this.method = method;
      this.path = path;
      this.query = query;
      this.headers = headers;
      this.body = body;
    }

    String header(String name) {
      List<String> values = headers.get(name.toLowerCase());
      return values == null || values.isEmpty() ? null : values.get(0);
    }
  }

  interface Answer {
    void send(HttpExchange exchange) throws IOException;
  }

  private final HttpServer server;
  private final ExecutorService threads = Executors.newCachedThreadPool();
  private final Map<String, Deque<Answer>> script = new HashMap<>();
  private final List<Seen> seen = Collections.synchronizedList(new ArrayList<>());
  /** Released on close: a hanging answer waits on it, so no thread outlives the test. */
  private final CountDownLatch closed = new CountDownLatch(1);

  FakeServer() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.setExecutor(threads);
    server.createContext(
        "/",
        exchange -> {
          byte[] body = exchange.getRequestBody().readAllBytes();
          Map<String, List<String>> headers = new HashMap<>();
          exchange.getRequestHeaders().forEach((name, values) -> headers.put(name.toLowerCase(), List.copyOf(values)));
          String path = exchange.getRequestURI().getPath();
          seen.add(
              new Seen(
                  exchange.getRequestMethod(),
                  path,
                  exchange.getRequestURI().getQuery(),
                  headers,
                  new String(body, StandardCharsets.UTF_8)));
          Answer answer;
          synchronized (script) {
            Deque<Answer> answers = script.get(path);
            answer = answers == null || answers.isEmpty() ? null : answers.size() > 1 ? answers.poll() : answers.peek();
          }
          try {
            if (answer == null) json(404, "{\"statusCode\":404,\"code\":\"NOT_FOUND\",\"message\":\"no route\",\"retriable\":false}").send(exchange);
            else answer.send(exchange);
          } finally {
            exchange.close();
          }
        });
    server.start();
  }

  /** The answers to give on `path`, in turn; the last one repeats. */
  FakeServer on(String path, Answer... answers) {
    synchronized (script) {
      script.put(path, new ArrayDeque<>(List.of(answers)));
    }
    return this;
  }

  String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort();
  }

  List<Seen> seen(String path) {
    synchronized (seen) {
      return seen.stream().filter(s -> s.path.equals(path)).collect(java.util.stream.Collectors.toList());
    }
  }

  static Answer json(int status, String body) {
    return json(status, Map.of(), body);
  }

  static Answer json(int status, Map<String, String> headers, String body) {
    return exchange -> {
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      exchange.getResponseHeaders().set("Content-Type", "application/json; charset=utf-8");
      headers.forEach((name, value) -> exchange.getResponseHeaders().set(name, value));
      exchange.sendResponseHeaders(status, bytes.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(bytes);
      }
    };
  }

  static Answer text(int status, String body) {
    return exchange -> {
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      exchange.getResponseHeaders().set("Content-Type", "text/html");
      exchange.sendResponseHeaders(status, bytes.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(bytes);
      }
    };
  }

  /** Never answers (until the server closes): the client's timeout must end the wait. */
  Answer hang() {
    return exchange -> {
      try {
        closed.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    };
  }

  @Override
  public void close() {
    closed.countDown();
    server.stop(0);
    threads.shutdownNow();
  }
}
