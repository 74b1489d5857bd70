-- Sets a value if the writer's lease term is live.
-- KEYS[1] lease, KEYS[2] its term counter, KEYS[3] value
-- ARGV[1] holder, ARGV[2] fencing token, ARGV[3] value text, ARGV[4] time to live (ms, 0: none)
-- Returns -1 when the term is over (nothing written), 1 when written.
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return -1
end
if tonumber(ARGV[4]) > 0 then
  redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[3], ARGV[3])
end
return 1
