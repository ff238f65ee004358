package dev.featurelog.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * A featurelog value type ({@code int64}, {@code list<float32>}, …) and how its JSON form (the
 * serving app's libs/serving json-values.ts) reads back as a Java value:
 *
 * <ul>
 *   <li>bool → {@link Boolean}; int32 → {@link Integer}; int64 → {@link Long};
 *   <li>float32 → {@link Float} (the server writes the shortest decimal that, read as a double and
 *       rounded to float32, is the same float32: {@code 4.9}, not {@code 4.900000095367432}); float64 →
 *       {@link Double};
 *       both with the strings {@code "NaN"}, {@code "Infinity"}, {@code "-Infinity"};
 *   <li>string → {@link String}; bytes (base64) → {@code byte[]}; timestamp (RFC 3339 UTC, to the
 *       microsecond) → {@link Instant};
 *   <li>list&lt;T&gt; → an unmodifiable {@link List} of T's Java values;
 *   <li>JSON null → {@code null}.
 * </ul>
 */
public final class ValueType {
  /** The scalar types of libs/domain value-types.ts. */
  public enum Scalar {
    BOOL,
    INT32,
    INT64,
    FLOAT32,
    FLOAT64,
    STRING,
    BYTES,
    TIMESTAMP
  }

  private final Scalar scalar;
  private final boolean list;

  private ValueType(Scalar scalar, boolean list) {
    this.scalar = scalar;
    this.list = list;
  }

  public static ValueType scalar(Scalar scalar) {
    return new ValueType(scalar, false);
  }

  public static ValueType listOf(Scalar element) {
    return new ValueType(element, true);
  }

  /** Reads the registry's spelling ({@code float64}, {@code list<string>}); null when it is none of them. */
  public static ValueType parse(String text) {
    if (text == null) return null;
    boolean isList = text.startsWith("list<") && text.endsWith(">");
    String name = isList ? text.substring(5, text.length() - 1) : text;
    for (Scalar s : Scalar.values()) {
      if (s.name().toLowerCase(Locale.ROOT).equals(name)) return new ValueType(s, isList);
    }
    return null;
  }

  /** The scalar type, or the element type of a list. */
  public Scalar scalarType() {
    return scalar;
  }

  public boolean isList() {
    return list;
  }

  /** The Java value of {@code json} as this type; throws IllegalArgumentException when it is not of this type. */
  public Object decode(JsonNode json) {
    if (json == null || json.isNull() || json.isMissingNode()) return null;
    if (!list) return decodeScalar(scalar, json);
    if (!json.isArray()) throw new IllegalArgumentException("expected a list, got " + describe(json));
    List<Object> items = new ArrayList<>(json.size());
    for (JsonNode item : json) items.add(item.isNull() ? null : decodeScalar(scalar, item));
    return Collections.unmodifiableList(items);
  }

  static Object decodeScalar(Scalar type, JsonNode json) {
    switch (type) {
      case BOOL:
        if (!json.isBoolean()) throw mismatch(type, json);
        return json.booleanValue();
      case INT32:
        if (json.isIntegralNumber() && json.canConvertToInt()) return json.intValue();
        if (json.isTextual()) return Integer.valueOf(json.textValue());
        throw mismatch(type, json);
      case INT64:
        if (json.isIntegralNumber() && json.canConvertToLong()) return json.longValue();
        // Join keys echo the request, where an int64 past 2^53 travels as a string of digits.
        if (json.isTextual()) return Long.valueOf(json.textValue());
        throw mismatch(type, json);
      case FLOAT32:
        // The server picks the shortest decimal that, read as a double and rounded to float32, gives
        // the float32 back (json-values.ts float32Text): read it exactly that way.
        if (json.isNumber()) return (float) json.doubleValue();
        if (json.isTextual()) return (float) nonFinite(type, json);
        throw mismatch(type, json);
      case FLOAT64:
        if (json.isNumber()) return json.doubleValue();
        if (json.isTextual()) return nonFinite(type, json);
        throw mismatch(type, json);
      case STRING:
        if (!json.isTextual()) throw mismatch(type, json);
        return json.textValue();
      case BYTES:
        if (!json.isTextual()) throw mismatch(type, json);
        return Base64.getDecoder().decode(json.textValue());
      case TIMESTAMP:
        if (json.isTextual()) return parseInstant(json.textValue());
        // A value that was not a safe integer of microseconds is written as the number it is.
        if (json.isIntegralNumber()) return instantOfMicros(json.longValue());
        throw mismatch(type, json);
      default:
        throw new IllegalStateException("unhandled type " + type);
    }
  }

  /** A value read by its JSON shape alone, for a column whose type is not known. */
  static Object decodeByShape(JsonNode json) {
    if (json == null || json.isNull() || json.isMissingNode()) return null;
    if (json.isBoolean()) return json.booleanValue();
    if (json.isIntegralNumber() && json.canConvertToLong()) return json.longValue();
    if (json.isNumber()) return json.doubleValue();
    if (json.isTextual()) return json.textValue();
    if (json.isArray()) {
      List<Object> items = new ArrayList<>(json.size());
      for (JsonNode item : json) items.add(decodeByShape(item));
      return Collections.unmodifiableList(items);
    }
    throw new IllegalArgumentException("not a feature value: " + describe(json));
  }

  static Instant parseInstant(String text) {
    try {
      return Instant.parse(text);
    } catch (DateTimeParseException e) {
      throw new IllegalArgumentException("not an RFC 3339 UTC timestamp: \"" + text + "\"", e);
    }
  }

  static Instant instantOfMicros(long micros) {
    return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1_000L);
  }

  private static double nonFinite(Scalar type, JsonNode json) {
    Double value = nonFiniteOf(json.textValue());
    if (value == null) throw mismatch(type, json);
    return value;
  }

  /**
   * The non-finite double JSON carries as a string ("NaN", "Infinity", "-Infinity"), or null for any
   * other string: the answer and the registry's types spell them alike.
   */
  static Double nonFiniteOf(String text) {
    switch (text) {
      case "NaN":
        return Double.NaN;
      case "Infinity":
        return Double.POSITIVE_INFINITY;
      case "-Infinity":
        return Double.NEGATIVE_INFINITY;
      default:
        return null;
    }
  }

  private static IllegalArgumentException mismatch(Scalar type, JsonNode json) {
    return new IllegalArgumentException(
        "expected a " + type.name().toLowerCase(Locale.ROOT) + " value, got " + describe(json));
  }

  private static String describe(JsonNode json) {
    String text = json.toString();
    return json.getNodeType().name().toLowerCase(Locale.ROOT)
        + " "
        + (text.length() > 60 ? text.substring(0, 60) + "…" : text);
  }

  @Override
  public String toString() {
    String name = scalar.name().toLowerCase(Locale.ROOT);
    return list ? "list<" + name + ">" : name;
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof ValueType && ((ValueType) other).scalar == scalar && ((ValueType) other).list == list;
  }

  @Override
  public int hashCode() {
    return scalar.hashCode() * 2 + (list ? 1 : 0);
  }
}
