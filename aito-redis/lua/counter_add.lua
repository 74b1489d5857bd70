-- Adds to a counter; a new counter gets the time to live, an existing one keeps its own.
-- KEYS[1] counter; ARGV[1] amount, ARGV[2] time to live in ms
-- Returns the new value as a string.
local value = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
