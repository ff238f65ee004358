/**
 * The Lua script that applies a whole batch inside Redis: one round trip, and no other client can see
 * or interleave with half a batch.
 *
 * KEYS: the entity hash of each row, in row order; then the checkpoint hash when the batch has offsets.
 * ARGV[1]: the batch as ONE MessagePack array (MsgpackWriter; cmsgpack.unpack reads it in C, far
 *       cheaper than ~30 arguments per row in both ioredis and Redis), each view's field names once:
 *         viewsAt (index of viewCount below), rowCount, then per row
 *           view (its index among the views below), version (the 67 first characters of the version
 *           field, see redis-version-field.ts), expireAtMs ('' = no expiry), the view's fieldCount values,
 *         then offsetCount, offsetCount × (field, nextOffset),
 *         then viewCount, per view
 *           versionField (`<view>:__v`), featureNames (`a,b,c`), fieldCount, fieldCount × field.
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
 * A checkpoint offset only moves forward: one lower than the stored one is ignored (see OnlineCheckpoint).
 */
export const WRITE_BATCH_SCRIPT = `
local b = cmsgpack.unpack(ARGV[1])
local views = {}
local v = b[1] + 1
for i = 1, b[b[1]] do
  local n = b[v + 2]
  -- The HSET arguments of a row of this view: field names fixed, values filled in per row.
  local args = {b[v], false}
  for f = 1, n do args[2 * f + 1] = b[v + 2 + f] end
  views[i] = {versionField = b[v], names = b[v + 1], n = n, args = args}
  v = v + 3 + n
end

local rowCount = b[2]
local a = 3
local won = 0
for r = 1, rowCount do
  local key = KEYS[r]
  local view = views[b[a]]
  local version = b[a + 1]
  local expireAt = b[a + 2]
  local firstValue = a + 3
  a = firstValue + view.n

  local stored = redis.call('HGET', key, view.versionField)
  if not stored or string.sub(version, 1, 66) > string.sub(stored, 1, 66) then
    if stored and string.sub(stored, 69) ~= view.names then
      -- The view's schema changed: drop fields the winner does not carry, so none lingers.
      local prefix = string.sub(view.versionField, 1, -4)
      local keep = {}
      for name in string.gmatch(view.names, '[^,]+') do keep[name] = true end
      for name in string.gmatch(string.sub(stored, 69), '[^,]+') do
        if not keep[name] then redis.call('HDEL', key, prefix .. name) end
      end
    end
    local expiryBefore = -1
    if expireAt ~= '' then expiryBefore = redis.call('PEXPIRETIME', key) end
    local args = view.args
    args[2] = version .. '|' .. view.names
    for f = 1, view.n do args[2 * f + 2] = b[firstValue + f - 1] end
    if view.n < 3500 then
      redis.call('HSET', key, unpack(args))
    else
      -- unpack is bounded by Lua's C stack (8000 values); a view this wide goes field by field.
      for f = 1, 2 * view.n + 2, 2 do redis.call('HSET', key, args[f], args[f + 1]) end
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
  -- Forward only: a zombie (a partition's previous owner finishing a batch after a rebalance) must not
  -- move an offset back. Offsets are decimal strings below 2^53, exact as Lua numbers.
  local checkpoint = KEYS[rowCount + 1]
  for o = a + 1, a + 2 * offsetCount, 2 do
    local stored = redis.call('HGET', checkpoint, b[o])
    if not stored or tonumber(b[o + 1]) > tonumber(stored) then redis.call('HSET', checkpoint, b[o], b[o + 1]) end
  end
end
return won
`;
