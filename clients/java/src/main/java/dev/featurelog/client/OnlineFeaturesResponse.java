package dev.featurelog.client;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The answer to a get-online-features request, in Feast's columns: the join keys as sent, then one
 * column per feature, each with a value, a {@link FieldStatus} and an event timestamp per entity row.
 *
 * <p>A column is named as the server names it ({@code conv_rate}, or {@code
 * driver_hourly_stats__conv_rate} with full feature names); every accessor also takes the reference
 * {@code driver_hourly_stats:conv_rate}. Values are decoded once, when the answer arrives: by the
 * column's type from the registry when the client knows it (see {@link FeaturelogClient.Builder#registryUrl}),
 * else by their JSON shape; the typed getters ({@link #getInstant}, {@link #getBytes}, {@link #getFloat}, …)
 * convert either way. Immutable and safe to share between threads.
 */
public final class OnlineFeaturesResponse {
  private final List<String> featureNames;
  private final Map<String, Integer> index;
  private final List<Column> columns;
  private final int rowCount;
  private final boolean fullFeatureNames;
  private final long registryVersion;

  private static final class Column {
    final String name;
    final ValueType type;
    final List<Object> values;
    final FieldStatus[] statuses;
    final Instant[] eventTimestamps;

    Column(String name, ValueType type, List<Object> values, FieldStatus[] statuses, Instant[] eventTimestamps) {
      this.name = name;
      this.type = type;
      this.values = values;
      this.statuses = statuses;
      this.eventTimestamps = eventTimestamps;
    }
  }

  private OnlineFeaturesResponse(
      List<String> featureNames, List<Column> columns, int rowCount, boolean fullFeatureNames, long registryVersion) {
    this.featureNames = featureNames;
    this.columns = columns;
    this.rowCount = rowCount;
    this.fullFeatureNames = fullFeatureNames;
    this.registryVersion = registryVersion;
    Map<String, Integer> byName = new HashMap<>();
    for (int i = 0; i < featureNames.size(); i++) byName.putIfAbsent(featureNames.get(i), i);
    this.index = byName;
  }

  /**
   * Decodes the serving app's JSON; throws IllegalArgumentException naming the column and row of
   * anything that is not in the documented shape.
   */
  static OnlineFeaturesResponse fromJson(
      JsonNode body, Map<String, ValueType> types, boolean fullFeatureNames, long registryVersion) {
    JsonNode names = body.path("metadata").path("feature_names");
    JsonNode results = body.path("results");
    if (!names.isArray() || !results.isArray() || names.size() != results.size()) {
      throw new IllegalArgumentException(
          "expected {\"metadata\":{\"feature_names\":[…]},\"results\":[…]} with one result per name");
    }
    List<String> featureNames = new ArrayList<>(names.size());
    List<Column> columns = new ArrayList<>(names.size());
    Map<String, Instant> instants = new HashMap<>();
    int rowCount = -1;
    for (int c = 0; c < names.size(); c++) {
      String name = names.get(c).asText();
      JsonNode result = results.get(c);
      JsonNode values = result.path("values");
      JsonNode statuses = result.path("statuses");
      JsonNode timestamps = result.path("event_timestamps");
      if (!values.isArray() || !statuses.isArray() || !timestamps.isArray()) {
        throw new IllegalArgumentException("column \"" + name + "\" lacks values, statuses or event_timestamps");
      }
      int rows = values.size();
      if (rowCount < 0) rowCount = rows;
      if (rows != rowCount || statuses.size() != rows || timestamps.size() != rows) {
        throw new IllegalArgumentException("column \"" + name + "\" does not have " + rowCount + " rows");
      }
      ValueType type = types.get(name);
      List<Object> decoded = new ArrayList<>(rows);
      FieldStatus[] statusRow = new FieldStatus[rows];
      Instant[] timestampRow = new Instant[rows];
      for (int r = 0; r < rows; r++) {
        try {
          decoded.add(type != null ? type.decode(values.get(r)) : ValueType.decodeByShape(values.get(r)));
          statusRow[r] = FieldStatus.valueOf(statuses.get(r).asText());
          JsonNode ts = timestamps.get(r);
          timestampRow[r] = ts.isNull() ? null : instants.computeIfAbsent(ts.asText(), ValueType::parseInstant);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("column \"" + name + "\" row " + r + ": " + e.getMessage(), e);
        }
      }
      featureNames.add(name);
      columns.add(new Column(name, type, Collections.unmodifiableList(decoded), statusRow, timestampRow));
    }
    return new OnlineFeaturesResponse(
        List.copyOf(featureNames), columns, Math.max(rowCount, 0), fullFeatureNames, registryVersion);
  }

  /** Column names as the server sent them: join keys first, then features. */
  public List<String> featureNames() {
    return featureNames;
  }

  public int rowCount() {
    return rowCount;
  }

  /** The registry version the server answered at ({@code x-featurelog-registry-version}), or -1. */
  public long registryVersion() {
    return registryVersion;
  }

  /** The column's type as the registry defines it, or empty when the client read it by JSON shape. */
  public Optional<ValueType> type(String name) {
    return Optional.ofNullable(column(name).type);
  }

  /** The value at an entity row, typed as {@link ValueType} describes; null when absent. */
  public Object value(int row, String name) {
    return column(name).values.get(checkRow(row));
  }

  /** Every value of a column, by entity row. */
  public List<Object> values(String name) {
    return column(name).values;
  }

  public FieldStatus status(int row, String name) {
    return column(name).statuses[checkRow(row)];
  }

  /** The row's event time ({@link Instant#EPOCH} for join keys and NOT_FOUND, as the server writes it). */
  public Instant eventTimestamp(int row, String name) {
    return column(name).eventTimestamps[checkRow(row)];
  }

  /** One entity row as column name → value, in column order. */
  public Map<String, Object> row(int row) {
    checkRow(row);
    Map<String, Object> out = new LinkedHashMap<>();
    for (Column column : columns) out.put(column.name, column.values.get(row));
    return Collections.unmodifiableMap(out);
  }

  public Boolean getBoolean(int row, String name) {
    Object value = value(row, name);
    if (value == null || value instanceof Boolean) return (Boolean) value;
    throw wrongType(name, value, "Boolean");
  }

  public Integer getInteger(int row, String name) {
    Object value = value(row, name);
    if (value == null || value instanceof Integer) return (Integer) value;
    if (value instanceof Long && (Long) value == ((Long) value).intValue()) return ((Long) value).intValue();
    throw wrongType(name, value, "Integer");
  }

  public Long getLong(int row, String name) {
    Object value = value(row, name);
    if (value == null || value instanceof Long) return (Long) value;
    if (value instanceof Integer) return ((Integer) value).longValue();
    throw wrongType(name, value, "Long");
  }

  /** A float32 value; a float64 or a shape-read number is narrowed, as the server's float32 text is read. */
  public Float getFloat(int row, String name) {
    Object value = value(row, name);
    if (value == null || value instanceof Float) return (Float) value;
    if (value instanceof Number) return ((Number) value).floatValue();
    if (value instanceof String) return (float) nonFinite(name, (String) value);
    throw wrongType(name, value, "Float");
  }

  public Double getDouble(int row, String name) {
    Object value = value(row, name);
    if (value == null || value instanceof Double) return (Double) value;
    if (value instanceof Number) return ((Number) value).doubleValue();
    if (value instanceof String) return nonFinite(name, (String) value);
    throw wrongType(name, value, "Double");
  }

  public String getString(int row, String name) {
    Object value = value(row, name);
    if (value == null || value instanceof String) return (String) value;
    throw wrongType(name, value, "String");
  }

  /** A bytes value; a column read by shape holds the base64 text, decoded here. */
  public byte[] getBytes(int row, String name) {
    Object value = value(row, name);
    if (value == null || value instanceof byte[]) return (byte[]) value;
    if (value instanceof String) return Base64.getDecoder().decode((String) value);
    throw wrongType(name, value, "byte[]");
  }

  /** A timestamp value; a column read by shape holds the RFC 3339 text, parsed here. */
  public Instant getInstant(int row, String name) {
    Object value = value(row, name);
    if (value == null || value instanceof Instant) return (Instant) value;
    if (value instanceof String) return ValueType.parseInstant((String) value);
    throw wrongType(name, value, "Instant");
  }

  public List<?> getList(int row, String name) {
    Object value = value(row, name);
    if (value == null || value instanceof List) return (List<?>) value;
    throw wrongType(name, value, "List");
  }

  private Column column(String name) {
    Integer i = index.get(name);
    if (i == null && name != null) {
      int colon = name.indexOf(':');
      if (colon > 0) {
        i = index.get(RegistryTypes.columnName(name.substring(0, colon), name.substring(colon + 1), fullFeatureNames));
      }
    }
    if (i == null) throw new IllegalArgumentException("no column \"" + name + "\" in the answer; it has " + featureNames);
    return columns.get(i);
  }

  private int checkRow(int row) {
    if (row < 0 || row >= rowCount) {
      throw new IndexOutOfBoundsException("row " + row + " of an answer with " + rowCount + " entity rows");
    }
    return row;
  }

  private static double nonFinite(String name, String text) {
    Double value = ValueType.nonFiniteOf(text);
    if (value == null) {
      throw new IllegalStateException("column \"" + name + "\" holds the string \"" + text + "\", not a number");
    }
    return value;
  }

  private static IllegalStateException wrongType(String name, Object value, String wanted) {
    return new IllegalStateException(
        "column \"" + name + "\" holds a " + value.getClass().getSimpleName() + ", not a " + wanted);
  }

  @Override
  public String toString() {
    return "OnlineFeaturesResponse{columns=" + featureNames + ", rows=" + rowCount + "}";
  }
}
