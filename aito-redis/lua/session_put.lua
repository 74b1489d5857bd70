-- Keeps an agent's session record and drops its oldest beyond the bound.
-- KEYS[1] hash trigger id -> record, KEYS[2] list of trigger ids, oldest first (both in the
-- agent's slot); ARGV[1] how many to keep, ARGV[2] trigger id, ARGV[3] record
local keep = tonumber(ARGV[1])
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then
  redis.call('RPUSH', KEYS[2], ARGV[2])
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
while redis.call('LLEN', KEYS[2]) > keep do
  local old = redis.call('LPOP', KEYS[2])
  redis.call('HDEL', KEYS[1], old)
end
return 1
