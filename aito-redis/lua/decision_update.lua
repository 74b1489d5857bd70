-- Compare-and-set of a decision; moves it to the index of its new status.
-- KEYS[1] decision hash, KEYS[2..] the index of every status
-- ARGV[1] expected version, ARGV[2] document, ARGV[3] new status, ARGV[4] id,
-- ARGV[5] position of the new status's index in KEYS (2-based)
-- Returns {1, new version}, {0, version found}, or {-1, 0} when the decision does not exist.
local found = redis.call('HGET', KEYS[1], 'v')
if not found then
  return {-1, 0}
end
found = tonumber(found)
if found ~= tonumber(ARGV[1]) then
  return {0, found}
end
local score = redis.call('HGET', KEYS[1], 'score')
redis.call('HSET', KEYS[1], 'v', found + 1, 'doc', ARGV[2], 'status', ARGV[3])
local target = tonumber(ARGV[5])
for i = 2, #KEYS do
  if i == target then
    redis.call('ZADD', KEYS[i], score, ARGV[4])
  else
    redis.call('ZREM', KEYS[i], ARGV[4])
  end
end
return {1, found + 1}
