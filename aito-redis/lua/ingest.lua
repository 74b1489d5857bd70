-- Ingests an envelope that an outside tool sent with a plain PUBLISH: the first listener to
-- take the claim appends it to the stream; every other listener finds the claim and stops.
-- KEYS[1] stream, KEYS[2] claim
-- ARGV[1] envelope JSON (id and timestamp assigned), ARGV[2] claim lifetime in ms,
-- ARGV[3] approximate MAXLEN (0: uncapped)
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  return false
end
if tonumber(ARGV[3]) > 0 then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[1])
end
return redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
