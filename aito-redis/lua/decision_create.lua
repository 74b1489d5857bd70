-- Creates a decision at version 1 and indexes it by creation time and status.
-- KEYS[1] decision hash, KEYS[2] index of all decisions, KEYS[3] index of its status
-- ARGV[1] document, ARGV[2] score (creation time in microseconds), ARGV[3] id, ARGV[4] status
-- Returns 1, or 0 when the id exists.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'v', 1, 'doc', ARGV[1], 'status', ARGV[4], 'score', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
return 1
