-- Takes a free or lapsed lease, or renews one's own, and answers the term's fencing token.
-- KEYS[1] lease (holder as value), KEYS[2] the lease's term counter (no expiry)
-- ARGV[1] holder, ARGV[2] time to live in ms
-- Returns the term's fencing token when the holder holds the lease now, else 0. A renewal
-- keeps the token; a take (of a free or lapsed lease, even one's own) starts a new term.
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  local term = redis.call('GET', KEYS[2])
  if term then
    return tonumber(term)
  end
  return redis.call('INCR', KEYS[2])
end
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return redis.call('INCR', KEYS[2])
end
return 0
