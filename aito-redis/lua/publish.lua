-- Appends an envelope to a durable channel's stream and mirrors it on the channel's pub/sub
-- name for outside observers. The mirror carries "aitoStreamId", which tells every RedisBus
-- listener that the envelope is already in the stream and must not be ingested again.
-- KEYS[1] stream
-- ARGV[1] envelope JSON (a compact object), ARGV[2] pub/sub channel name,
-- ARGV[3] approximate MAXLEN (0: uncapped), ARGV[4] "1" to mirror on pub/sub
local id
if tonumber(ARGV[3]) > 0 then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[1])
else
  id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
end
if ARGV[4] == '1' then
  local mirror = string.sub(ARGV[1], 1, -2) .. ',"aitoStreamId":"' .. id .. '"}'
  redis.call('PUBLISH', ARGV[2], mirror)
end
return id
