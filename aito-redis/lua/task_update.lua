-- Compare-and-set of a task document.
-- KEYS[1] task hash {v = version, doc = JSON}
-- ARGV[1] expected version, ARGV[2] new document
-- Returns {1, new version}, {0, version found}, or {-1, 0} when the task does not exist.
local found = redis.call('HGET', KEYS[1], 'v')
if not found then
  return {-1, 0}
end
found = tonumber(found)
if found ~= tonumber(ARGV[1]) then
  return {0, found}
end
redis.call('HSET', KEYS[1], 'v', found + 1, 'doc', ARGV[2])
return {1, found + 1}
