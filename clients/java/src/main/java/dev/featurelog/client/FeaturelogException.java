package dev.featurelog.client;

/**
 * Every failure of the client: the server's JSON error ({@code statusCode, code, message, retriable})
 * kept as it was sent, or a client-side one (no answer, timeout, unreadable answer) with a code of its own.
 *
 * <p>{@link #retriable()} says whether sending the same request again can help; the client retries
 * only those, never a 4xx. Messages never hold the API key: the server writes none, and the client
 * masks it in anything it builds from text it did not write itself.
 */
public class FeaturelogException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** No HTTP answer (connection refused, timeout, interrupted). */
  public static final int NO_STATUS = 0;

  /** Client-side codes; the server's are passed through as sent (e.g. UNKNOWN_FEATURE, UNAUTHENTICATED). */
  public static final String TIMEOUT = "TIMEOUT";
  public static final String CONNECTION_FAILED = "CONNECTION_FAILED";
  public static final String INVALID_RESPONSE = "INVALID_RESPONSE";
  public static final String INTERRUPTED = "INTERRUPTED";

  private final String code;
  private final int statusCode;
  private final boolean retriable;

  public FeaturelogException(String code, String message, int statusCode, boolean retriable, Throwable cause) {
    super(message, cause);
    this.code = code;
    this.statusCode = statusCode;
    this.retriable = retriable;
  }

  /** The stable code, e.g. {@code UNKNOWN_FEATURE}, {@code UNAUTHENTICATED}, {@code TIMEOUT}. */
  public String code() {
    return code;
  }

  /** The HTTP status of the answer, or {@link #NO_STATUS} (0) when there was none. */
  public int statusCode() {
    return statusCode;
  }

  /** Whether the same request may succeed if sent again. */
  public boolean retriable() {
    return retriable;
  }

  @Override
  public String toString() {
    return getClass().getName()
        + ": "
        + code
        + (statusCode == NO_STATUS ? "" : " (HTTP " + statusCode + ")")
        + (retriable ? " [retriable]" : "")
        + ": "
        + getMessage();
  }
}
