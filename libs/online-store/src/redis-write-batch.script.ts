/**
 * The Lua script that applies a whole batch inside Redis: one round trip, and no other client can see
 * or interleave with half a batch.
 *
 * KEYS: the entity hash of each row, in row order; then the checkpoint hash when the batch has offsets.
 * ARGV[1]: the batch as ONE MessagePack array (MsgpackWriter; cmsgpack.unpack reads it in C, far
 *       cheaper than several arguments per row in both ioredis and Redis), each view's field name once:
 *         viewsAt (index of viewCount below), rowCount, then per row
 *           view (its index among the views below), value (the view's whole stored value, see
 *           view-value.ts: it starts with the version digits), expireAtMs ('' = no expiry),
 *         then offsetCount, offsetCount × (field, nextOffset),
 *         then viewCount, viewCount × field (the view's name).
 * Returns how many rows won.
 *
 * Last-write-wins is compareRowVersions from @featurelog/domain, restated here because it must run
 * next to the data: a value starts with digits ordered like compareRowVersions, 68 + LL of them where
 * LL (characters 35–36) is the source position's length, so a row wins when its digits are greater
 * than the stored ones: one string comparison. An equal version is the same row and loses. Digits
 * only: Lua compares strings with strcoll, and every locale orders digits alike. The winner replaces
 * the view's value whole: a schema change leaves nothing behind, and a delete (names `|`, no values)
 * keeps its version so that an older row cannot bring values back.
 *
 * Key expiry keeps a key until its last view may be forgotten: a row without TTL makes the key
 * persistent, and a row with TTL only ever moves the key's expiry later (a new key takes the row's).
 * So a key never expires while a view on it is unexpired. The price: a key that once held a view
 * without TTL stays persistent, and a TTL that shrinks does not shorten a key's life. A key that holds
 * a view whose stored value says `p` (persistent) is persistent already, so a row without TTL that
 * replaces it needs no PERSIST: that call is made only for a view new on the key or one that expired.
 * Likewise a row with TTL that replaces a stored value of its view: flag `p`, the key is persistent and
 * stays so (no call); flag `e`, the key exists and one `PEXPIREAT … GT` is exactly the rule (Redis 7:
 * GT sets only a later expiry, and takes a persistent key's as infinite, leaving it persistent). Only
 * a view new on the key asks PEXPIRETIME first: -2 there means a new key, which GT would leave
 * persistent.
 *
 * Checkpoint offsets move forward only: an offset lower than (or equal to) the stored one is left
 * out, so a zombie — a partition's previous owner finishing a batch after a rebalance — never moves a
 * checkpoint back (its rows are harmless: last-write-wins). Moving one back is deleting it.
 *
 * Redis runs a script to the end or fails it midway without undoing earlier writes; everything that
 * could fail is validated before the call, and the checkpoint is written last, so a failure can lose
 * the checkpoint (rows are then replayed, harmlessly) but never record offsets for rows not written.
 */
export const WRITE_BATCH_SCRIPT = `
local b = cmsgpack.unpack(ARGV[1])
local views = {}
local v = b[1]
for i = 1, b[v] do views[i] = b[v + i] end

local rowCount = b[2]
local a = 3
local won = 0
for r = 1, rowCount do
  local key = KEYS[r]
  local field = views[b[a]]
  local value = b[a + 1]
  local expireAt = b[a + 2]
  a = a + 3

  local stored = redis.call('HGET', key, field)
  local wins = true
  local storedFlag = nil
  if stored then
    local storedEnd = 68 + tonumber(string.sub(stored, 35, 36))
    wins = string.sub(value, 1, 68 + tonumber(string.sub(value, 35, 36))) > string.sub(stored, 1, storedEnd)
    storedFlag = string.byte(stored, storedEnd + 1)
  end
  if wins then
    local expiryBefore = -1
    if expireAt ~= '' and storedFlag ~= 101 and storedFlag ~= 112 then expiryBefore = redis.call('PEXPIRETIME', key) end
    redis.call('HSET', key, field, value)
    if expireAt == '' then
      if storedFlag ~= 112 then redis.call('PERSIST', key) end
    elseif storedFlag == 101 then
      redis.call('PEXPIREAT', key, expireAt, 'GT')
    elseif storedFlag ~= 112 then
      if expiryBefore == -2 or (expiryBefore >= 0 and tonumber(expireAt) > expiryBefore) then
        redis.call('PEXPIREAT', key, expireAt)
      end
    end
    won = won + 1
  end
end

local offsetCount = b[a]
if offsetCount > 0 then
  local checkpoint = KEYS[rowCount + 1]
  local fields = {}
  for i = 1, offsetCount do fields[i] = b[a + 2 * i - 1] end
  local current = redis.call('HMGET', checkpoint, unpack(fields))
  local forward = {}
  for i = 1, offsetCount do
    local nextOffset = b[a + 2 * i]
    if not current[i] or tonumber(nextOffset) > tonumber(current[i]) then
      forward[#forward + 1] = fields[i]
      forward[#forward + 1] = nextOffset
    end
  end
  if #forward > 0 then redis.call('HSET', checkpoint, unpack(forward)) end
end
return won
`;
