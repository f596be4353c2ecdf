-- Gives a shard lease back if it still carries this hub's token.
-- KEYS[1] lease; ARGV[1] token. Returns 1 when released, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
