/**
 * The Lua script that applies a whole batch inside Redis: one round trip, and no other client can see
 * or interleave with half a batch.
 *
 * KEYS: the entity hash of each row, in row order; then the checkpoint hash when the batch has offsets.
 * ARGV[1]: the batch as ONE MessagePack array (MsgpackWriter; cmsgpack.unpack reads it in C, far
 *       cheaper than ~30 arguments per row in both ioredis and Redis):
 *         rowCount, then per row
 *           versionField (`<view>:__v`), versionValue (see redis-version-field.ts),
 *           expireAtMs ('' = no expiry), fieldCount, fieldCount × (field, value),
 *         then offsetCount, offsetCount × (field, nextOffset).
 * Returns how many rows won.
 *
 * Last-write-wins is compareRowVersions from @featurelog/domain, restated here because it must run
 * next to the data: the first 66 characters of a version value are fixed-width digits ordered like
 * compareRowVersions (event timestamp, created timestamp with absent lowest, offset, partition), so
 * a row wins when its version string is greater than the stored one. An equal version is the same
 * row and loses. Digits only: Lua compares strings with strcoll, and every locale orders digits alike.
 *
 * Key expiry keeps a key until its last view may be forgotten: a row without TTL makes the key
 * persistent, and a row with TTL only ever moves the key's expiry later (a new key takes the row's).
 * So a key never expires while a view on it is unexpired. The price: a key that once held a view
 * without TTL stays persistent, and a TTL that shrinks does not shorten a key's life. A key that holds
 * a view whose stored version says `p` (persistent) is persistent already, so a row without TTL that
 * replaces it needs no PERSIST: that call is made only for a view new on the key or one that expired.
 *
 * Redis runs a script to the end or fails it midway without undoing earlier writes; everything that
 * could fail is validated before the call, and the checkpoint is written last, so a failure can lose
 * the checkpoint (rows are then replayed, harmlessly) but never record offsets for rows not written.
 */
export const WRITE_BATCH_SCRIPT = `
local b = cmsgpack.unpack(ARGV[1])
local rowCount = b[1]
local a = 2
local won = 0
for r = 1, rowCount do
  local key = KEYS[r]
  local versionField = b[a]
  local versionValue = b[a + 1]
  local expireAt = b[a + 2]
  local firstField = a + 4
  a = firstField + 2 * b[a + 3]

  local stored = redis.call('HGET', key, versionField)
  if not stored or string.sub(versionValue, 1, 66) > string.sub(stored, 1, 66) then
    if stored then
      local features = string.sub(versionValue, 69)
      local storedFeatures = string.sub(stored, 69)
      if storedFeatures ~= features then
        -- The view's schema changed: drop fields the winner does not carry, so none lingers.
        local view = string.sub(versionField, 1, -5)
        local keep = {}
        for name in string.gmatch(features, '[^,]+') do keep[name] = true end
        for name in string.gmatch(storedFeatures, '[^,]+') do
          if not keep[name] then redis.call('HDEL', key, view .. ':' .. name) end
        end
      end
    end
    local expiryBefore = -1
    if expireAt ~= '' then expiryBefore = redis.call('PEXPIRETIME', key) end
    if a - firstField <= 7000 then
      redis.call('HSET', key, versionField, versionValue, unpack(b, firstField, a - 1))
    else
      -- unpack is bounded by Lua's C stack (8000 values); a view this wide goes field by field.
      redis.call('HSET', key, versionField, versionValue)
      for i = firstField, a - 1, 2 do redis.call('HSET', key, b[i], b[i + 1]) end
    end
    if expireAt == '' then
      if not stored or string.byte(stored, 67) ~= 112 then redis.call('PERSIST', key) end
    elseif expiryBefore == -2 or (expiryBefore >= 0 and tonumber(expireAt) > expiryBefore) then
      redis.call('PEXPIREAT', key, expireAt)
    end
    won = won + 1
  end
end

local offsetCount = b[a]
if offsetCount > 0 then
  redis.call('HSET', KEYS[rowCount + 1], unpack(b, a + 1, a + 2 * offsetCount))
end
return won
`;
