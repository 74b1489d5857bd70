-- Sets an idempotency mark if the writer's lease term is live.
-- KEYS[1] lease, KEYS[2] its term counter, KEYS[3] mark
-- ARGV[1] holder, ARGV[2] fencing token, ARGV[3] mark time to live (ms)
-- Returns -1 when the term is over (nothing written), 1 when the mark was set, 0 when it was
-- set already.
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return -1
end
if redis.call('SET', KEYS[3], 1, 'NX', 'PX', ARGV[3]) then
  return 1
end
return 0
