/**
 * The Lua script that applies a whole batch inside Redis: one round trip, and no other client can see
 * or interleave with half a batch.
 *
 * KEYS: the entity hash of each row, in row order; then the checkpoint hash when the batch has offsets.
 * ARGV: rowCount, then per row
 *         view, eventTs, createdTs ('' = null), partition, offset, expireAtMs ('' = keep forever),
 *         versionField value (see encodeVersionField), fieldCount, fieldCount × (field, value),
 *       then offsetCount, offsetCount × (field, nextOffset).
 * Returns how many rows won.
 *
 * Last-write-wins is compareRowVersions from @featurelog/domain, restated here because it must run
 * next to the data: greater event timestamp, then created timestamp (absent lowest), then offset,
 * then partition; an equal version is the same row and loses. Lua numbers are doubles, exact for
 * the safe integers the batch validation admits.
 *
 * Key expiry keeps a key until its last view may be forgotten: a row without TTL makes the key
 * persistent, and a row with TTL only ever moves the key's expiry later (a new key takes the row's).
 * So a key never expires while a view on it is unexpired. The price: a key that once held a view
 * without TTL stays persistent, and a TTL that shrinks does not shorten a key's life.
 *
 * Redis runs a script to the end or fails it midway without undoing earlier writes; everything that
 * could fail is validated before the call, and the checkpoint is written last, so a failure can lose
 * the checkpoint (rows are then replayed, harmlessly) but never record offsets for rows not written.
 */
export const WRITE_BATCH_SCRIPT = `
local rowCount = tonumber(ARGV[1])
local a = 2
local won = 0
for r = 1, rowCount do
  local key = KEYS[r]
  local view = ARGV[a]
  local eventTs = tonumber(ARGV[a + 1])
  local createdText = ARGV[a + 2]
  local partition = tonumber(ARGV[a + 3])
  local offset = tonumber(ARGV[a + 4])
  local expireAt = ARGV[a + 5]
  local versionField = view .. ':__v'
  local versionValue = ARGV[a + 6]
  local firstField = a + 8
  a = firstField + 2 * tonumber(ARGV[a + 7])

  local stored = redis.call('HGET', key, versionField)
  local wins = true
  local storedFeatures = nil
  if stored then
    local sEvent, sCreated, sPartition, sOffset, sFeatures = string.match(stored, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
    storedFeatures = sFeatures
    sEvent = tonumber(sEvent)
    if eventTs ~= sEvent then
      wins = eventTs > sEvent
    else
      local created = createdText == '' and -math.huge or tonumber(createdText)
      local sCreatedNumber = sCreated == '' and -math.huge or tonumber(sCreated)
      if created ~= sCreatedNumber then
        wins = created > sCreatedNumber
      else
        sOffset = tonumber(sOffset)
        if offset ~= sOffset then wins = offset > sOffset else wins = partition > tonumber(sPartition) end
      end
    end
  end

  if wins then
    local features = storedFeatures and string.match(versionValue, '^[^|]*|[^|]*|[^|]*|[^|]*|(.*)$')
    if storedFeatures and storedFeatures ~= features then
      -- The view's schema changed: drop fields the winner does not carry, so none lingers.
      local keep = {}
      for name in string.gmatch(features, '[^,]+') do keep[name] = true end
      for name in string.gmatch(storedFeatures, '[^,]+') do
        if not keep[name] then redis.call('HDEL', key, view .. ':' .. name) end
      end
    end
    local expiryBefore = -1
    if expireAt ~= '' then expiryBefore = redis.call('PEXPIRETIME', key) end
    if a - firstField <= 7000 then
      redis.call('HSET', key, versionField, versionValue, unpack(ARGV, firstField, a - 1))
    else
      -- unpack is bounded by Lua's C stack (8000 values); a view this wide goes field by field.
      redis.call('HSET', key, versionField, versionValue)
      for i = firstField, a - 1, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
    end
    if expireAt == '' then
      redis.call('PERSIST', key)
    elseif expiryBefore == -2 or (expiryBefore >= 0 and tonumber(expireAt) > expiryBefore) then
      redis.call('PEXPIREAT', key, expireAt)
    end
    won = won + 1
  end
end

local offsetCount = tonumber(ARGV[a])
if offsetCount > 0 then
  local command = {'HSET', KEYS[rowCount + 1]}
  for i = a + 1, a + 2 * offsetCount do command[#command + 1] = ARGV[i] end
  redis.call(unpack(command))
end
return won
`;
