-- Creates a task document at version 1.
-- KEYS[1] task hash {v = version, doc = JSON}
-- ARGV[1] document
-- Returns 1, or 0 when the id exists.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'v', 1, 'doc', ARGV[1])
return 1
