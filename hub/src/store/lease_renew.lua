-- Renews a shard lease if it still carries this hub's token.
-- KEYS[1] lease; ARGV[1] token, ARGV[2] lease length in ms. Returns 1 when renewed, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
