-- Compare-and-set of an agent's state document.
-- KEYS[1] state hash {v = version, doc = JSON}
-- ARGV[1] expected version, ARGV[2] new document
-- Returns {1, new version} or {0, version found}.
local found = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if found ~= tonumber(ARGV[1]) then
  return {0, found}
end
redis.call('HSET', KEYS[1], 'v', found + 1, 'doc', ARGV[2])
return {1, found + 1}
