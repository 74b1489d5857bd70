-- Records a handled trigger at once, unless it was recorded before.
-- KEYS[1] handled mark, KEYS[2] state hash {v, doc}, KEYS[3] history list, KEYS[4] journal value,
-- KEYS[5] the agent's lease, KEYS[6] its term counter
-- ARGV[1] mark time to live (ms), ARGV[2] expected state version, ARGV[3] new state document,
-- ARGV[4] how many history entries to keep, ARGV[5] history entry, ARGV[6] the lease holder
-- ('' when the write is not fenced), ARGV[7] its fencing token
-- Returns {1, new version} when written, {0, 0} when the mark was set already (nothing
-- written), {2, version found} on a version conflict (nothing written), {3, 0} when the
-- writer's lease term is over (nothing written).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, 0}
end
if ARGV[6] ~= '' and (redis.call('GET', KEYS[5]) ~= ARGV[6] or redis.call('GET', KEYS[6]) ~= ARGV[7]) then
  return {3, 0}
end
local found = tonumber(redis.call('HGET', KEYS[2], 'v') or '0')
if found ~= tonumber(ARGV[2]) then
  return {2, found}
end
redis.call('HSET', KEYS[2], 'v', found + 1, 'doc', ARGV[3])
local keep = tonumber(ARGV[4])
if keep <= 0 then
  redis.call('DEL', KEYS[3])
else
  redis.call('RPUSH', KEYS[3], ARGV[5])
  redis.call('LTRIM', KEYS[3], -keep, -1)
end
redis.call('SET', KEYS[1], 1, 'PX', ARGV[1])
redis.call('DEL', KEYS[4])
return {1, found + 1}
